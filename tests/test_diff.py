"""Hand-made cases pinning down what counts as a change between two versions of a guide."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from textwrap import dedent

import pytest

from guide import diff
from guide.diff import (
    INTRO_TITLE,
    SECTION_SEPARATOR,
    GuideDiff,
    Link,
    MovedLink,
    ParsedGuide,
    RetitledLink,
    SectionDiff,
    diff_guides,
    parse_guide,
)


def md(text: str) -> str:
    return dedent(text).lstrip("\n")


def path(*titles: str) -> str:
    return SECTION_SEPARATOR.join(titles)


def keys(sections: tuple[SectionDiff, ...]) -> list[str]:
    return [s.key for s in sections]


def urls(links: tuple[Link, ...]) -> set[str]:
    return {link.url for link in links}


GUIDE = md(
    """
    A guide to learning machine learning, see [the FAQ](https://example.com/faq).

    # Beginner track

    Start here.

    ## Roadmap

    - [Linear algebra](https://example.com/linalg) first.
    - Then [probability](https://example.com/prob).

    # Reference texts

    > Quote from [a book](https://example.com/book).

    ## Roadmap

    Read the classics.
    """
)


# -- parsing ----------------------------------------------------------------------------------


def test_content_before_the_first_heading_is_the_introduction_section() -> None:
    intro = parse_guide(GUIDE).sections[0]
    assert (intro.key, intro.title, intro.level) == ("", INTRO_TITLE, 0)
    assert intro.blocks == ("A guide to learning machine learning, see the FAQ.",)


def test_a_guide_that_starts_with_a_heading_has_no_introduction_section() -> None:
    guide = parse_guide("# Only\n\ntext\n")
    assert [s.key for s in guide.sections] == ["Only"]


def test_section_keys_are_heading_paths_of_plain_text_titles() -> None:
    guide = parse_guide(GUIDE)
    assert [s.key for s in guide.sections] == [
        "",
        "Beginner track",
        path("Beginner track", "Roadmap"),
        "Reference texts",
        path("Reference texts", "Roadmap"),
    ]
    assert [s.level for s in guide.sections] == [0, 1, 2, 1, 2]


def test_inline_markup_is_stripped_and_whitespace_collapsed_in_heading_titles() -> None:
    guide = parse_guide("#   The *best*   `code` [tools](https://example.com/t)  \n")
    assert guide.sections[0].title == "The best code tools"


def test_setext_headings_open_sections_like_atx_headings() -> None:
    guide = parse_guide(md("Title\n=====\n\nSub\n---\n\ntext\n"))
    assert [(s.key, s.level) for s in guide.sections] == [("Title", 1), (path("Title", "Sub"), 2)]


def test_a_heading_closes_deeper_and_equal_levels_in_the_path() -> None:
    guide = parse_guide("# A\n## B\n### C\n## D\n# E\n### F\n")
    assert [s.key for s in guide.sections] == [
        "A",
        path("A", "B"),
        path("A", "B", "C"),
        path("A", "D"),
        "E",
        path("E", "F"),
    ]


def test_duplicate_heading_paths_get_numbered_suffixes_in_order() -> None:
    guide = parse_guide("# Tools\n# Tools\n## X\n# Tools\n")
    assert [s.key for s in guide.sections] == [
        "Tools",
        "Tools (2)",
        path("Tools", "X"),
        "Tools (3)",
    ]


def test_a_literal_suffix_in_a_heading_does_not_collide_with_a_numbered_duplicate() -> None:
    guide = parse_guide("# A (2)\n# A\n# A\n")
    assert [s.key for s in guide.sections] == ["A (2)", "A", "A (3)"]


def test_an_empty_heading_gets_a_placeholder_title() -> None:
    guide = parse_guide("intro\n\n#\n\ntext\n")
    assert [s.key for s in guide.sections] == ["", "(untitled)"]


def test_a_heading_inside_a_blockquote_is_a_block_not_a_section() -> None:
    guide = parse_guide("# Real\n\n> # Quoted\n> words\n")
    assert [s.key for s in guide.sections] == ["Real"]
    assert guide.sections[0].blocks == ("Quoted", "words")


def test_blocks_are_paragraphs_list_items_quotes_code_and_table_rows() -> None:
    guide = parse_guide(
        md(
            """
            # S

            A *paragraph*
            on two lines.

            - item one
            - item **two**

            > quoted

            ```python
            def f():
                return 1
            ```

                indented code

            | a | b |
            |---|---|
            | c | [d](https://example.com/d) |
            """
        )
    )
    assert guide.sections[0].blocks == (
        "A paragraph on two lines.",
        "item one",
        "item two",
        "quoted",
        "def f():\n    return 1",
        "indented code",
        "a | b",
        "c | d",
    )


def test_links_are_inline_autolinks_and_resolved_reference_links() -> None:
    guide = parse_guide(
        md(
            """
            # S

            [inline](https://example.com/a), <https://example.com/b>, [ref][r] and [collapsed][].

            [r]: https://example.com/c
            [collapsed]: https://example.com/d "Title attr"
            """
        )
    )
    assert [(link.url, link.title) for link in guide.sections[0].links] == [
        ("https://example.com/a", "inline"),
        ("https://example.com/b", "https://example.com/b"),
        ("https://example.com/c", "ref"),
        ("https://example.com/d", "collapsed"),
    ]


def test_images_are_not_links() -> None:
    guide = parse_guide("# S\n\n![a chart](https://example.com/chart.png)\n")
    assert guide.links == {}
    assert guide.sections[0].blocks == ("a chart",)


def test_a_linked_image_is_a_link_titled_by_its_alt_text() -> None:
    guide = parse_guide("[![badge](https://example.com/b.svg)](https://example.com/ci)\n")
    assert list(guide.links.values()) == [Link("https://example.com/ci", "badge", "")]


def test_link_urls_are_normalised_as_markdown_it_does() -> None:
    guide = parse_guide("[x](https://example.com/a b) [y](<https://example.com/é z>)\n")
    assert list(guide.links) == ["https://example.com/%C3%A9%20z"]


def test_the_first_occurrence_of_a_url_defines_its_title_and_section() -> None:
    guide = parse_guide(
        md(
            """
            # One

            [first title](https://example.com/x)

            # Two

            [second title](https://example.com/x)
            """
        )
    )
    assert guide.links["https://example.com/x"] == Link(
        "https://example.com/x", "first title", "One"
    )
    # Each section still lists the URLs it contains.
    assert [link.title for link in guide.sections[1].links] == ["second title"]


def test_link_titles_are_plain_text_with_whitespace_collapsed() -> None:
    guide = parse_guide("[The  *Deep*\n`Learning`  book](https://example.com/dl)\n")
    assert guide.links["https://example.com/dl"].title == "The Deep Learning book"


def test_a_link_in_a_heading_belongs_to_that_headings_section() -> None:
    guide = parse_guide("intro\n\n## [PyTorch](https://pytorch.org)\n")
    assert guide.links["https://pytorch.org"].section == "PyTorch"


def test_parse_guide_returns_the_same_immutable_object_for_the_same_text() -> None:
    assert parse_guide(GUIDE) is parse_guide(GUIDE)
    with pytest.raises(TypeError):
        parse_guide(b"bytes")  # type: ignore[arg-type]


def test_a_parsed_guide_survives_pickling_so_it_can_be_stored_per_version() -> None:
    parsed = parse_guide(GUIDE)
    restored = pickle.loads(pickle.dumps(parsed))  # noqa: S301 - our own bytes
    assert restored == parsed
    assert hash(restored) == hash(parsed)
    assert diff_guides(restored, GUIDE).is_empty


# -- first version ----------------------------------------------------------------------------


def test_a_first_version_adds_every_section_link_and_paragraph() -> None:
    diff = diff_guides(None, GUIDE)
    parsed = parse_guide(GUIDE)
    assert [s.status for s in diff.sections] == ["added"] * len(parsed.sections)
    assert keys(diff.sections) == [s.key for s in parsed.sections]
    assert urls(diff.links_added) == set(parsed.links)
    assert [p for s in diff.sections for p in s.paragraphs_added] == [
        b for s in parsed.sections for b in s.blocks
    ]
    assert not diff.links_removed and not diff.sections_removed


def test_a_first_version_summary_counts_sections_and_links() -> None:
    assert diff_guides(None, GUIDE).summary() == "5 sections added, 4 new links"


def test_an_empty_first_version_is_no_change() -> None:
    assert diff_guides(None, "").is_empty


# -- no change --------------------------------------------------------------------------------


def test_a_guide_compared_with_itself_has_no_changes() -> None:
    diff = diff_guides(GUIDE, GUIDE)
    assert diff.is_empty
    assert diff.item_count == 0
    assert diff.summary() == "No changes"


def test_parsed_guides_can_be_diffed_like_texts() -> None:
    new = GUIDE.replace("Start here.", "Begin here.")
    assert diff_guides(parse_guide(GUIDE), parse_guide(new)) == diff_guides(GUIDE, new)
    assert isinstance(parse_guide(GUIDE), ParsedGuide)


def test_re_wrapping_a_paragraph_is_not_a_change() -> None:
    old = "# S\n\nOne two three four\nfive six.\n"
    new = "# S\n\nOne two\nthree   four five\nsix.\n"
    assert diff_guides(old, new).is_empty


def test_switching_a_link_from_inline_to_reference_style_is_not_a_change() -> None:
    old = "# S\n\nSee [the book](https://example.com/book).\n"
    new = "# S\n\nSee [the book][b].\n\n[b]: https://example.com/book\n"
    assert diff_guides(old, new).is_empty


def test_changing_emphasis_only_is_not_a_change() -> None:
    assert diff_guides("# S\n\nA *big* deal.\n", "# S\n\nA **big** deal.\n").is_empty


def test_reindenting_code_is_a_change() -> None:
    old = "# S\n\n```\nif x:\n    y\n```\n"
    new = "# S\n\n```\nif x:\n  y\n```\n"
    assert keys(diff_guides(old, new).sections_changed) == ["S"]


def test_wrong_argument_types_are_refused() -> None:
    with pytest.raises(TypeError):
        diff_guides(None, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        diff_guides(b"old", "new")  # type: ignore[arg-type]


# -- sections ---------------------------------------------------------------------------------


def test_a_new_heading_is_an_added_section_with_its_paragraphs() -> None:
    new = GUIDE + "\n# Advanced track\n\nAttention is all you need.\n"
    diff = diff_guides(GUIDE, new)
    assert keys(diff.sections) == ["Advanced track"]
    (section,) = diff.sections_added
    assert (section.title, section.level) == ("Advanced track", 1)
    assert section.paragraphs_added == ("Attention is all you need.",)
    assert diff.summary() == "1 section added"


def test_a_deleted_heading_is_a_removed_section_with_its_links_and_paragraphs() -> None:
    old = GUIDE
    new = GUIDE.replace(
        "# Reference texts\n\n> Quote from [a book](https://example.com/book).\n\n", ""
    )
    diff = diff_guides(old, new)
    # "Reference texts › Roadmap" is now "Beginner track › Roadmap (2)": the path changed.
    assert keys(diff.sections_removed) == ["Reference texts", path("Reference texts", "Roadmap")]
    removed = diff.sections_removed[0]
    assert removed.title == "Reference texts"
    assert removed.links_removed == (Link("https://example.com/book", "a book", "Reference texts"),)
    assert removed.paragraphs_removed == ("Quote from a book.",)


def test_renaming_a_parent_heading_changes_the_keys_of_its_subsections() -> None:
    new = GUIDE.replace("# Beginner track", "# Beginners")
    diff = diff_guides(GUIDE, new)
    assert keys(diff.sections_added) == ["Beginners", path("Beginners", "Roadmap")]
    assert keys(diff.sections_removed) == ["Beginner track", path("Beginner track", "Roadmap")]
    # The links did not leave the guide: they moved to the renamed section.
    assert not diff.links_added and not diff.links_removed
    assert {m.new_section for m in diff.links_moved} == {path("Beginners", "Roadmap")}


def test_a_removed_section_is_listed_after_the_section_that_preceded_it() -> None:
    old = "# A\n\na\n\n# B\n\nb\n\n# C\n\nc\n"
    new = "# A\n\na\n\n# C\n\nc changed\n\n# D\n\nd\n"
    diff = diff_guides(old, new)
    assert [(s.key, s.status) for s in diff.sections] == [
        ("B", "removed"),
        ("C", "changed"),
        ("D", "added"),
    ]
    assert keys(diff_guides("# X\n\nx\n\n# A\n\na\n", "# A\n\na\n\n# N\n").sections) == ["X", "N"]


def test_a_changed_section_reports_added_and_removed_paragraphs() -> None:
    old = "# S\n\nkeep one\n\ndrop me\n\nkeep two\n\nold wording\n"
    new = "# S\n\nkeep one\n\nkeep two\n\nnew wording\n\nbrand new\n"
    (section,) = diff_guides(old, new).sections
    assert section.status == "changed"
    assert section.paragraphs_removed == ("drop me", "old wording")
    assert section.paragraphs_added == ("new wording", "brand new")


def test_a_repeated_identical_paragraph_is_aligned_not_junked() -> None:
    old = "# S\n\n" + "See also.\n\n" * 300 + "end\n"
    new = "# S\n\n" + "See also.\n\n" * 300 + "the end\n"
    (section,) = diff_guides(old, new).sections
    assert (section.paragraphs_removed, section.paragraphs_added) == (("end",), ("the end",))


def test_a_changed_href_changes_the_section_although_the_text_is_the_same() -> None:
    old = "# S\n\nRead [the paper](https://example.com/v1).\n"
    new = "# S\n\nRead [the paper](https://example.com/v2).\n"
    (section,) = diff_guides(old, new).sections
    assert section.status == "changed"
    assert section.paragraphs_removed == ("Read the paper.",)
    assert section.paragraphs_added == ("Read the paper.",)
    assert urls(section.links_added) == {"https://example.com/v2"}
    assert urls(section.links_removed) == {"https://example.com/v1"}


def test_a_changed_image_source_changes_the_section() -> None:
    old = "# S\n\n![chart](https://example.com/1.png)\n"
    new = "# S\n\n![chart](https://example.com/2.png)\n"
    assert keys(diff_guides(old, new).sections_changed) == ["S"]


def test_duplicate_headings_are_compared_by_position() -> None:
    old = "# Roadmap\n\nfirst\n\n# Roadmap\n\nsecond\n"
    new = "# Roadmap\n\nfirst\n\n# Roadmap\n\nsecond, revised\n"
    (section,) = diff_guides(old, new).sections
    assert (section.key, section.title) == ("Roadmap (2)", "Roadmap")


def test_the_same_subheading_under_different_parents_are_different_sections() -> None:
    old = "# Beginner\n\n## Roadmap\n\nx\n\n# Advanced\n\n## Roadmap\n\ny\n"
    new = old.replace("y\n", "y and z\n")
    assert keys(diff_guides(old, new).sections) == [path("Advanced", "Roadmap")]


def test_a_section_whose_heading_link_changed_is_changed() -> None:
    old = "## [PyTorch](https://pytorch.org)\n\ntext\n"
    new = "## [PyTorch](https://pytorch.org/docs)\n\ntext\n"
    (section,) = diff_guides(old, new).sections
    assert (section.key, section.status) == ("PyTorch", "changed")
    assert not section.paragraphs_added and not section.paragraphs_removed


def test_the_introduction_can_be_changed_added_and_removed() -> None:
    assert keys(diff_guides("# A\n", "intro\n\n# A\n").sections_added) == [""]
    assert keys(diff_guides("intro\n\n# A\n", "# A\n").sections_removed) == [""]
    assert keys(diff_guides("intro\n\n# A\n", "intro 2\n\n# A\n").sections_changed) == [""]


# -- links ------------------------------------------------------------------------------------


def test_a_new_url_is_an_added_link_reported_where_it_first_appears() -> None:
    new = GUIDE.replace("Start here.", "Start here, with [fast.ai](https://fast.ai).")
    diff = diff_guides(GUIDE, new)
    assert diff.links_added == (Link("https://fast.ai", "fast.ai", "Beginner track"),)
    assert keys(diff.sections) == ["Beginner track"]
    assert diff.summary() == "1 section changed, 1 new link"


def test_a_url_gone_from_the_whole_guide_is_a_removed_link_in_its_old_section() -> None:
    new = GUIDE.replace("- Then [probability](https://example.com/prob).\n", "")
    diff = diff_guides(GUIDE, new)
    assert diff.links_removed == (
        Link("https://example.com/prob", "probability", path("Beginner track", "Roadmap")),
    )
    assert diff.summary() == "1 section changed, 1 link removed"


def test_a_link_moved_to_another_section_is_neither_added_nor_removed() -> None:
    old = "# A\n\n[book](https://example.com/book)\n\n# B\n\nnothing\n"
    new = "# A\n\nnothing here\n\n# B\n\nnothing\n\n[book](https://example.com/book)\n"
    diff = diff_guides(old, new)
    assert not diff.links_added and not diff.links_removed
    assert diff.links_moved == (MovedLink("https://example.com/book", "book", "A", "B"),)
    assert [s.key for s in diff.sections if s.links_moved_in] == ["B"]
    assert diff.summary() == "2 sections changed, 1 link moved"


def test_a_link_that_keeps_its_url_but_changes_text_is_retitled() -> None:
    new = GUIDE.replace("[the FAQ]", "[the new FAQ]")
    diff = diff_guides(GUIDE, new)
    assert diff.links_retitled == (
        RetitledLink("https://example.com/faq", "the FAQ", "the new FAQ", ""),
    )
    assert not diff.links_added and not diff.links_removed
    assert diff.summary() == "1 section changed, 1 link retitled"


def test_a_link_moved_and_retitled_is_reported_as_both() -> None:
    old = "# A\n\n[old](https://example.com/x)\n\n# B\n\nb\n"
    new = "# A\n\na\n\n# B\n\nb [new](https://example.com/x)\n"
    diff = diff_guides(old, new)
    assert diff.links_retitled == (RetitledLink("https://example.com/x", "old", "new", "B"),)
    assert diff.links_moved == (MovedLink("https://example.com/x", "new", "A", "B"),)
    assert diff.item_count == 2 + 2 + 2  # two links, two paragraphs removed, two added


def test_a_link_moved_into_a_new_section_is_moved_not_added() -> None:
    old = "# A\n\n[x](https://example.com/x)\n"
    new = "# A\n\nnone\n\n# New\n\n[x](https://example.com/x)\n"
    diff = diff_guides(old, new)
    assert not diff.links_added
    assert diff.sections_added[0].links_moved_in == (
        MovedLink("https://example.com/x", "x", "A", "New"),
    )


def test_a_second_occurrence_of_a_url_is_not_an_added_link() -> None:
    old = "# A\n\n[x](https://example.com/x)\n\n# B\n\nb\n"
    new = "# A\n\n[x](https://example.com/x)\n\n# B\n\nb, again [x](https://example.com/x)\n"
    diff = diff_guides(old, new)
    assert not diff.links_added
    assert keys(diff.sections_changed) == ["B"]


def test_a_link_added_before_its_old_first_occurrence_moves_it() -> None:
    old = "# A\n\na\n\n# B\n\n[x](https://example.com/x)\n"
    new = "# A\n\na [x](https://example.com/x)\n\n# B\n\n[x](https://example.com/x)\n"
    diff = diff_guides(old, new)
    assert diff.links_moved == (MovedLink("https://example.com/x", "x", "B", "A"),)
    assert keys(diff.sections) == ["A"]  # B's own text did not change


def test_added_and_removed_links_in_removed_and_added_sections() -> None:
    old = "# Old\n\n[gone](https://example.com/gone)\n"
    new = "# New\n\n[fresh](https://example.com/fresh)\n"
    diff = diff_guides(old, new)
    assert diff.sections_removed[0].links_removed == (
        Link("https://example.com/gone", "gone", "Old"),
    )
    assert diff.sections_added[0].links_added == (
        Link("https://example.com/fresh", "fresh", "New"),
    )
    assert diff.summary() == "1 section added, 1 section removed, 1 new link, 1 link removed"


def test_links_of_a_section_are_reported_in_document_order() -> None:
    new = GUIDE.replace(
        "Start here.",
        "[c](https://example.com/c) [a](https://example.com/a) [b](https://example.com/b)",
    )
    titles = [link.title for link in diff_guides(GUIDE, new).links_added]
    assert titles == ["c", "a", "b"]


# -- summary, counts, export ------------------------------------------------------------------


def test_the_summary_uses_singular_and_plural_and_a_fixed_order() -> None:
    old = "# A\n\n[r1](https://e.com/r1) [r2](https://e.com/r2) [t](https://e.com/t)\n\n# B\n\nb\n"
    new = "# A\n\n[n1](https://e.com/n1) [n2](https://e.com/n2) [T](https://e.com/t)\n\n# C\n\nc\n"
    summary = diff_guides(old, new).summary()
    assert summary == (
        "1 section added, 1 section removed, 1 section changed, 2 new links, 2 links removed, "
        "1 link retitled"
    )


def test_the_summary_counts_several_moved_links_in_the_plural() -> None:
    old = "# A\n\n[x](https://e.com/x) [y](https://e.com/y)\n\n# B\n\nb\n"
    new = "# A\n\na\n\n# B\n\nb [x](https://e.com/x) [y](https://e.com/y)\n"
    assert diff_guides(old, new).summary() == "2 sections changed, 2 links moved"


def test_an_empty_diff_summary_says_no_changes() -> None:
    assert GuideDiff().summary() == "No changes"
    assert GuideDiff().is_empty


def test_item_count_adds_links_and_paragraphs() -> None:
    old = "# A\n\n[x](https://e.com/x)\n\nkept\n"
    new = "# A\n\n[y](https://e.com/y)\n\nkept\n\nnew paragraph\n"
    diff = diff_guides(old, new)
    # 1 link added + 1 removed + paragraphs "x" removed, "y" and "new paragraph" added.
    assert diff.item_count == 5


def test_to_dict_is_json_serialisable_and_round_trips() -> None:
    old = "# A\n\n[old](https://e.com/x) [gone](https://e.com/g)\n\n# B\n\nb\n"
    new = "# B\n\nb [new](https://e.com/x)\n\n# C\n\n[c](https://e.com/c)\n"
    diff = diff_guides(old, new)
    data = json.loads(json.dumps(diff.to_dict()))
    assert data["summary"] == diff.summary()
    assert data["item_count"] == diff.item_count
    assert data["sections"][0]["key"] == "A"
    assert GuideDiff.from_dict(data) == diff


def test_from_dict_refuses_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="status"):
        GuideDiff.from_dict({"sections": [{"key": "", "title": "t", "level": 0, "status": "x"}]})


# -- the two parsers --------------------------------------------------------------------------
#
# parse_guide reads markdown-it-pyrs's tree (fast), and falls back to markdown-it-py's tokens
# where the two parsers could disagree. Either way the result must be markdown-it-py's reading.

TYPICAL_GUIDE = md(
    """
    A guide to *machine learning* — “from scratch”, naïvely. See <https://example.com/faq>.

    Beginners
    =========

    ## Roadmap 🚀

    1. [Linear algebra](https://example.com/linalg "Strang") first, then **probability**.
    2. [Deep Learning][dl] ([PDF](https://example.com/dl.pdf)), ~~old~~ new edition.
       - Nested: [`torch.nn`](https://pytorch.org/docs/stable/nn.html#module) and `np.dot`.
    3. Contact <me@example.com>.

    > **Tip:** read [the FAQ][faq] before asking.
    > It saves time.

    | Model | Paper | Year |
    |-------|:-----:|-----:|
    | BERT  | [arXiv](https://arxiv.org/abs/1810.04805) | 2018 |
    | GPT-2 | [blog](https://openai.com/blog/better-language-models/) | 2019 |

    ```python
    import torch
    model = torch.nn.Linear(3, 1)
    ```

        indented code

    ![A chart](https://example.com/chart.png) <span>inline HTML</span>

    <div class="note">
    A block of HTML.
    </div>

    ---

    # Reference texts

    - [Wikipedia: Bayes' theorem](https://en.wikipedia.org/wiki/Bayes%27_theorem)
    - [Café](https://example.com/caf%C3%A9) &amp; more

    [dl]: https://www.deeplearningbook.org/
    [faq]: https://example.com/faq "FAQ"
    """
)


def test_a_typical_guide_is_read_by_the_fast_parser_as_markdown_it_py_reads_it() -> None:
    assert diff._parse_tree(TYPICAL_GUIDE) == diff._parse_tokens(TYPICAL_GUIDE)


def test_the_demo_guides_are_read_by_the_fast_parser_as_markdown_it_py_reads_them() -> None:
    guides = sorted((Path(__file__).resolve().parent.parent / "guide" / "demo").glob("*/*.md"))
    assert guides
    for guide in guides:
        text = guide.read_text(encoding="utf-8")
        assert diff._parse_tree(text) == diff._parse_tokens(text), guide.name


@pytest.mark.parametrize(
    "text",
    [
        # Read from the tree, adjusted to markdown-it-py:
        "<https://example.com/%C3%A9> <https://xn--bcher-kva.de/x>",  # autolinks shown decoded
        "<https://example.com/\N{NO-BREAK SPACE}>",  # mdurl trims the autolink's URL
        "a\0b",  # NUL becomes U+FFFD
        "```\ncode\n  ",  # no line for a last line of blanks
        "[x](http://a~b.com:80/x) [y](mailto:me@example.com)",  # mdurl rewrites the host part
        "first\r\nsecond\rthird",
        # Left to markdown-it-py:
        "[x](https://bücher.de/a)",  # an IDN host: punycode
        "[x](< https://example.com/a >)",  # mdurl trims a destination
        "a [`b",  # a panic of markdown-it-pyrs (markdown-it.rs #40)
        "![`](/u)  `` a`b ``",  # code spans in link labels
        "a*€*b _a_€ x**🚀**y",  # symbols are punctuation for CommonMark 0.31 only
        "~~a~~~~b~~",
        "a <!-- a -- b --> c <!--> d",  # HTML comments of CommonMark 0.31 only
        "<search>x\n\npara\n<source>\n",  # HTML block tags of one version only
        "> ```\n>\tx\n> ```",  # a tab in code in a quote
        "> > \t  code?\n> > - ~~~\n> >   \ty",  # tabs after quote markers
        "[a][[x](/v)]\n\n[a]: /u",  # a full reference or a shortcut one
        "[a]: /u\n[b]: /v\n\n[a](([b] [](([b]",  # a reference label after a failed "("
        "#######|\n---",  # a table for markdown-it-py only
        " _ \n:--",  # a table for markdown-it-pyrs only
        "1. a\n\n1.  x | y\n   -|--:",  # a table in a list item
        "\\\n \N{NO-BREAK SPACE}\n=",  # markdown-it-py trims Unicode white space
        "> - a\n2) b",  # a lazy line like a list item
        "> " * 25 + "deep",  # markdown-it-py stops 20 levels deep
        "\ud800",  # not valid Unicode: Rust refuses it
    ],
)
def test_where_the_parsers_differ_the_reading_is_markdown_it_pys(text: str) -> None:
    assert diff._parse(text) == diff._parse_tokens(text)
