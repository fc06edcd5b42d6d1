"""What counts as a change between two versions of a guide, and how it is reported.

Most cases run on real guide text (tests/data/mlmw-guide-1.1.md, a release of the MLMW guide) edited
the way an editor edits it; the small hand-made texts pin the parsing rules.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from textwrap import dedent

import pytest

from guide.diff import (
    INTRO_TITLE,
    SECTION_SEPARATOR,
    GuideDiff,
    Link,
    LinkChange,
    ParagraphChange,
    ParsedGuide,
    SectionDiff,
    Span,
    diff_guides,
    parse_guide,
)

GUIDE_1_1 = (Path(__file__).resolve().parent / "data" / "mlmw-guide-1.1.md").read_text(
    encoding="utf-8"
)
TOP = "The MLMW guide"


def md(text: str) -> str:
    return dedent(text).lstrip("\n")


def path(*titles: str) -> str:
    return SECTION_SEPARATOR.join(titles)


def edit(old: str, new: str, text: str = GUIDE_1_1) -> str:
    """The guide with one edit; fails if `old` is not in it once."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def marked(paragraph: ParagraphChange) -> list[tuple[str, str]]:
    """The inserted and deleted runs of a paragraph."""
    return [(s.op, s.text) for s in paragraph.spans if s.op != "="]


def links_of(diff: GuideDiff) -> list[LinkChange]:
    return [link for s in diff.sections for link in s.links]


def paragraphs_of(diff: GuideDiff) -> list[ParagraphChange]:
    return [p for s in diff.sections for p in s.paragraphs]


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
    assert parse_guide("# Only\n\ntext\n").section_keys == ("Only",)


def test_section_keys_are_heading_paths_of_plain_text_titles() -> None:
    guide = parse_guide(GUIDE)
    assert guide.section_keys == (
        "",
        "Beginner track",
        path("Beginner track", "Roadmap"),
        "Reference texts",
        path("Reference texts", "Roadmap"),
    )
    assert [s.level for s in guide.sections] == [0, 1, 2, 1, 2]


def test_inline_markup_is_stripped_and_whitespace_collapsed_in_heading_titles() -> None:
    guide = parse_guide("#   The *best*   `code` [tools](https://example.com/t)  \n")
    assert guide.sections[0].title == "The best code tools"


def test_setext_headings_open_sections_like_atx_headings() -> None:
    guide = parse_guide(md("Title\n=====\n\nSub\n---\n\ntext\n"))
    assert [(s.key, s.level) for s in guide.sections] == [("Title", 1), (path("Title", "Sub"), 2)]


def test_a_heading_closes_deeper_and_equal_levels_in_the_path() -> None:
    guide = parse_guide("# A\n## B\n### C\n## D\n# E\n### F\n")
    assert guide.section_keys == (
        "A",
        path("A", "B"),
        path("A", "B", "C"),
        path("A", "D"),
        "E",
        path("E", "F"),
    )


def test_duplicate_heading_paths_get_numbered_suffixes_in_order() -> None:
    guide = parse_guide("# Tools\n# Tools\n## X\n# Tools\n")
    assert guide.section_keys == ("Tools", "Tools (2)", path("Tools", "X"), "Tools (3)")
    assert {s.base for s in guide.sections} == {"Tools", path("Tools", "X")}


def test_a_literal_suffix_in_a_heading_does_not_collide_with_a_numbered_duplicate() -> None:
    assert parse_guide("# A (2)\n# A\n# A\n").section_keys == ("A (2)", "A", "A (3)")


def test_an_empty_heading_gets_a_placeholder_title() -> None:
    assert parse_guide("intro\n\n#\n\ntext\n").section_keys == ("", "(untitled)")


def test_a_heading_inside_a_blockquote_is_a_block_not_a_section() -> None:
    guide = parse_guide("# Real\n\n> # Quoted\n> words\n")
    assert guide.section_keys == ("Real",)
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
    section = guide.sections[0]
    assert section.blocks == (
        "A paragraph on two lines.",
        "item one",
        "item two",
        "quoted",
        "def f():\n    return 1",
        "indented code",
        "a | b",
        "c | d",
    )
    assert section.code == frozenset({4, 5})
    # The link's place in the row's text.
    assert section.block_links[7] == ((4, 5, "https://example.com/d"),)


def test_each_block_keeps_where_its_links_are_in_its_text() -> None:
    guide = parse_guide(
        "See  [the *Deep*\nLearning  book](https://e.com/dl) and [x](https://e.com/x).\n"
    )
    (text,), (links,) = guide.sections[0].blocks, guide.sections[0].block_links
    assert text == "See the Deep Learning book and x."
    assert [(text[s:e], url) for s, e, url in links] == [
        ("the Deep Learning book", "https://e.com/dl"),
        ("x", "https://e.com/x"),
    ]


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
        "# One\n\n[first title](https://example.com/x)\n\n# Two\n\n[second title](https://example.com/x)\n"
    )
    assert guide.links["https://example.com/x"] == Link(
        "https://example.com/x", "first title", "One"
    )
    # Each section still lists the URLs it contains.
    assert [link.title for link in guide.sections[1].links] == ["second title"]


def test_a_link_in_a_heading_belongs_to_that_headings_section() -> None:
    guide = parse_guide("intro\n\n## [PyTorch](https://pytorch.org)\n")
    assert guide.links["https://pytorch.org"].section == "PyTorch"


def test_parse_guide_returns_the_same_immutable_object_for_the_same_text() -> None:
    assert parse_guide(GUIDE) is parse_guide(GUIDE)
    with pytest.raises(TypeError):
        parse_guide(b"bytes")  # type: ignore[arg-type]


def test_a_parsed_guide_survives_pickling_so_it_can_be_stored() -> None:
    parsed = parse_guide(GUIDE_1_1)
    restored = pickle.loads(pickle.dumps(parsed))  # noqa: S301 - our own bytes
    assert restored == parsed
    assert ParsedGuide.from_bytes(parsed.to_bytes()) == parsed
    assert diff_guides(restored, GUIDE_1_1).is_empty


# -- no change --------------------------------------------------------------------------------


def test_a_guide_compared_with_itself_has_no_changes() -> None:
    diff = diff_guides(GUIDE_1_1, GUIDE_1_1)
    assert diff.is_empty
    assert diff.item_count == 0
    assert diff.summary() == "No changes"
    assert diff_guides(parse_guide(GUIDE_1_1), parse_guide(GUIDE_1_1 + "\n")).is_empty


def test_re_wrapping_a_paragraph_is_not_a_change() -> None:
    old = "# S\n\nOne two three four\nfive six.\n"
    new = "# S\n\nOne two\nthree   four five\nsix.\n"
    assert diff_guides(old, new).is_empty


def test_re_wrapping_a_paragraph_of_the_guide_is_not_a_change() -> None:
    paragraph = "ISLP and the Andrew Ng course are deliberately gentle. When you need"
    assert diff_guides(GUIDE_1_1, edit(paragraph, paragraph.replace(". ", ".\n"))).is_empty


def test_switching_a_link_from_inline_to_reference_style_is_not_a_change() -> None:
    new = edit(
        "[Python labs](https://github.com/intro-stat-learning/ISLP_labs)", "[Python labs][labs]"
    )
    new += "\n[labs]: https://github.com/intro-stat-learning/ISLP_labs\n"
    assert diff_guides(GUIDE_1_1, new).is_empty


def test_changing_emphasis_only_is_not_a_change() -> None:
    assert diff_guides(GUIDE_1_1, edit("**MDTP topic list**", "*MDTP topic list*")).is_empty


def test_reindenting_code_is_a_change() -> None:
    old = "# S\n\n```\nif x:\n    y\n```\n"
    new = "# S\n\n```\nif x:\n  y\n```\n"
    (section,) = diff_guides(old, new).sections
    (paragraph,) = section.paragraphs
    assert paragraph.code and paragraph.status == "changed"
    assert (paragraph.old_text, paragraph.new_text) == ("if x:\n    y", "if x:\n  y")


def test_wrong_argument_types_are_refused() -> None:
    with pytest.raises(TypeError):
        diff_guides(None, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        diff_guides(b"old", "new")  # type: ignore[arg-type]


# -- paragraphs: one changed paragraph, the changed words marked -------------------------------


def test_a_one_word_fix_is_one_paragraph_with_that_word_marked() -> None:
    diff = diff_guides(GUIDE_1_1, edit("real contraints", "real constraints"))
    (section,) = diff.sections
    assert section.key == path(
        TOP, "What else?", "Does reading these materials make you a machine learning engineer?"
    )
    (paragraph,) = section.paragraphs
    assert paragraph.status == "changed"
    assert marked(paragraph) == [("-", "contraints"), ("+", "constraints")]
    assert paragraph.new_text.startswith("Not until you make projects for real tasks")
    assert not section.links
    assert diff.summary() == "1 paragraph edited"


def test_a_rewritten_phrase_is_marked_as_one_deletion_and_one_insertion() -> None:
    diff = diff_guides(
        GUIDE_1_1,
        edit(
            "Two free textbooks for math and classic machine learning (ML)",
            "Two free books on maths and classic machine learning (ML)",
        ),
    )
    (paragraph,) = paragraphs_of(diff)
    # Not "textbooks" → "books", "for" kept, "math" → "maths"...: the small kept word between
    # two changes is folded into them, as a person would mark the edit.
    assert marked(paragraph) == [("-", "textbooks for math"), ("+", "books on maths")]


def test_words_kept_between_two_insertions_stay_unmarked() -> None:
    diff = diff_guides(
        GUIDE_1_1,
        edit(
            "prml-book/) and [Murphy (2022)](https://probml.github.io/pml-book/book1.html).",
            "prml-book/), the classic text on Bayesian machine learning, and "
            "[Murphy (2022)](https://probml.github.io/pml-book/book1.html), its modern "
            "counterpart in two volumes.",
        ),
    )
    (paragraph,) = paragraphs_of(diff)
    # Not " and Murphy (2022)" struck and inserted again: nothing of it was deleted.
    assert marked(paragraph) == [
        ("+", ", the classic text on Bayesian machine learning,"),
        ("+", ", its modern counterpart in two volumes"),
    ]


def test_marks_never_split_a_word() -> None:
    diff = diff_guides(GUIDE_1_1, edit("deliberately gentle", "deliberately a gentle one"))
    (paragraph,) = paragraphs_of(diff)
    assert marked(paragraph) == [("+", "a "), ("+", " one")]


def test_a_changed_paragraph_gives_back_the_old_and_the_new_text_exactly() -> None:
    old_text = parse_guide(GUIDE_1_1).sections[-1].blocks[-1]
    new = edit("Please refer to the MDTP topic list", "Please see the MDTP topic list")
    (paragraph,) = paragraphs_of(diff_guides(GUIDE_1_1, new))
    assert paragraph.old_text == old_text
    assert paragraph.new_text == parse_guide(new).sections[-1].blocks[-1]


def test_a_paragraph_with_no_counterpart_is_added_or_removed() -> None:
    new = edit(
        "- [Polars](https://pola.rs/): a fast dataframe library with a lazy query engine.\n",
        "",
    )
    new = edit(
        "Links to other textbooks and supplementary materials are provided below.",
        "Links to other textbooks and supplementary materials are provided below.\n\n"
        "Plan for three to six months of evenings.",
        new,
    )
    diff = diff_guides(GUIDE_1_1, new)
    assert [(p.status, p.new_text or p.old_text) for p in paragraphs_of(diff)] == [
        ("added", "Plan for three to six months of evenings."),
        ("removed", "Polars: a fast dataframe library with a lazy query engine."),
    ]
    # The removed list item goes with its link: counted once, as the link.
    assert diff.summary() == "1 paragraph added, 1 link removed"


def test_a_repeated_identical_paragraph_is_aligned_not_junked() -> None:
    old = "# S\n\n" + "See also.\n\n" * 300 + "the end\n"
    new = "# S\n\n" + "See also.\n\n" * 300 + "the very end\n"
    (paragraph,) = paragraphs_of(diff_guides(old, new))
    assert marked(paragraph) == [("+", "very ")]


def test_a_reworded_table_row_is_one_changed_row() -> None:
    old = "# S\n\n| tool | use |\n|---|---|\n| pandas | dataframes |\n| numpy | arrays |\n"
    new = old.replace("| numpy | arrays |", "| numpy | n-dimensional arrays |")
    (paragraph,) = paragraphs_of(diff_guides(old, new))
    assert paragraph.new_text == "numpy | n-dimensional arrays"
    assert marked(paragraph) == [("+", "n-dimensional ")]


# -- links ------------------------------------------------------------------------------------


def test_a_url_only_change_is_one_link_updated_and_no_paragraph() -> None:
    diff = diff_guides(
        GUIDE_1_1,
        edit("https://scipy-lectures.org/", "https://lectures.scientific-python.org/"),
    )
    assert paragraphs_of(diff) == []
    assert links_of(diff) == [
        LinkChange(
            "updated",
            url="https://lectures.scientific-python.org/",
            title="Scientific Python Lectures",
            old_url="https://scipy-lectures.org/",
        )
    ]
    assert diff.summary() == "1 link updated"
    assert diff.item_count == 1


def test_a_url_changed_under_the_same_title_elsewhere_in_the_section_is_one_update() -> None:
    new = edit("- [Scientific Python Lectures](https://scipy-lectures.org/), formerly the", "- ")
    new = edit(
        "Practical manuals to keep next to the textbooks:",
        "Practical manuals to keep next to the textbooks, starting with the "
        "[Scientific Python Lectures](https://lectures.scientific-python.org/):",
        new,
    )
    (update,) = [link for link in links_of(diff_guides(GUIDE_1_1, new))]
    assert (update.kind, update.old_url) == ("updated", "https://scipy-lectures.org/")


def test_a_sweep_of_links_to_archive_copies_reads_as_links_updated() -> None:
    old = "# Links\n\n" + "".join(
        f"- [Resource {n}](https://example.org/r/{n}) - notes on topic {n}\n" for n in range(69)
    )
    new = old.replace(
        "(https://example.org/", "(https://web.archive.org/web/2024/https://example.org/"
    )
    diff = diff_guides(old, new)
    assert diff.summary() == "69 links updated"
    assert paragraphs_of(diff) == []
    assert {link.kind for link in links_of(diff)} == {"updated"}


def test_a_retitled_link_is_one_item() -> None:
    diff = diff_guides(
        GUIDE_1_1, edit("[Murphy (2022)]", "[Murphy (2022), Probabilistic Machine Learning]")
    )
    assert paragraphs_of(diff) == []
    assert links_of(diff) == [
        LinkChange(
            "retitled",
            url="https://probml.github.io/pml-book/book1.html",
            title="Murphy (2022), Probabilistic Machine Learning",
            old_title="Murphy (2022)",
        )
    ]
    assert diff.summary() == "1 link retitled"


def test_a_new_link_is_shown_once_inside_its_paragraph() -> None:
    diff = diff_guides(
        GUIDE_1_1,
        edit(
            "- [XGBoost](https://xgboost.readthedocs.io/): gradient boosted trees.\n",
            "- [XGBoost](https://xgboost.readthedocs.io/): gradient boosted trees.\n"
            "- [CatBoost](https://catboost.ai/): boosted trees with categorical features.\n",
        ),
    )
    (section,) = diff.sections
    (paragraph,) = section.paragraphs
    assert paragraph.status == "added"
    assert Span("+", "CatBoost", "https://catboost.ai/") in paragraph.spans
    (link,) = section.links
    assert (link.kind, link.url, link.in_paragraph) == ("added", "https://catboost.ai/", True)
    assert diff.item_count == 1  # the paragraph; the link is not listed again
    # The new list item is the new link: counted once, as the link.
    assert diff.summary() == "1 new link"


def test_a_link_added_to_an_existing_paragraph_is_marked_there() -> None:
    diff = diff_guides(
        GUIDE_1_1,
        edit(
            "notation from linear algebra and calculus.",
            "notation from linear algebra and calculus, for example from [Khan Academy]"
            "(https://www.khanacademy.org/math).",
        ),
    )
    (paragraph,) = paragraphs_of(diff)
    assert paragraph.status == "changed"
    assert marked(paragraph) == [("+", ", for example from "), ("+", "Khan Academy")]
    assert Span("+", "Khan Academy", "https://www.khanacademy.org/math") in paragraph.spans
    (link,) = links_of(diff)
    assert link.in_paragraph and link.kind == "added"
    assert diff.summary() == "1 new link, 1 paragraph edited"


def test_a_removed_link_is_struck_inside_its_paragraph_with_its_old_href() -> None:
    diff = diff_guides(
        GUIDE_1_1,
        edit(
            "- [XGBoost](https://xgboost.readthedocs.io/): gradient boosted trees.\n",
            "",
        ),
    )
    (paragraph,) = paragraphs_of(diff)
    assert paragraph.status == "removed"
    assert paragraph.spans[0] == Span("-", "XGBoost", "https://xgboost.readthedocs.io/")
    (link,) = links_of(diff)
    assert (link.kind, link.in_paragraph) == ("removed", True)


def test_a_link_moved_to_another_section_is_one_item() -> None:
    jax = (
        "- [JAX](https://docs.jax.dev/): NumPy-like arrays with automatic differentiation and "
        "compilation.\n"
    )
    new = edit(jax, "")
    new = edit("- [Keras](https://keras.io/)", jax + "- [Keras](https://keras.io/)", new)
    diff = diff_guides(GUIDE_1_1, new)
    assert links_of(diff) == [
        LinkChange(
            "moved",
            url="https://docs.jax.dev/",
            title="JAX",
            old_section=path(TOP, "What else?", "Numeric computation"),
        )
    ]
    assert paragraphs_of(diff) == []
    assert diff.summary() == "1 link moved"


def test_a_second_occurrence_of_a_url_is_not_a_new_link() -> None:
    diff = diff_guides(
        GUIDE_1_1,
        edit(
            "Read chapter 8",
            "Read ([MML](https://mml-book.github.io/)) chapter 8",
        ),
    )
    assert links_of(diff) == []
    (paragraph,) = paragraphs_of(diff)
    assert Span("+", "MML", "https://mml-book.github.io/") in paragraph.spans


def test_links_of_a_section_are_reported_in_document_order() -> None:
    new = GUIDE.replace(
        "Start here.",
        "[c](https://example.com/c) [a](https://example.com/a) [b](https://example.com/b)",
    )
    assert [link.title for link in links_of(diff_guides(GUIDE, new))] == ["c", "a", "b"]


def test_a_changed_href_under_unchanged_text_is_a_link_change_only() -> None:
    old = "# S\n\nRead [the paper](https://example.com/v1).\n"
    new = "# S\n\nRead [the paper](https://example.com/v2).\n"
    (section,) = diff_guides(old, new).sections
    assert section.paragraphs == ()
    assert [(link.kind, link.old_url, link.url) for link in section.links] == [
        ("updated", "https://example.com/v1", "https://example.com/v2")
    ]


def test_a_link_in_a_heading_whose_url_changed_is_updated() -> None:
    old = "## [PyTorch](https://pytorch.org)\n\ntext\n"
    new = "## [PyTorch](https://pytorch.org/docs)\n\ntext\n"
    diff = diff_guides(old, new)
    assert (diff.summary(), diff.sections[0].key) == ("1 link updated", "PyTorch")


# -- sections ---------------------------------------------------------------------------------


def test_a_new_heading_is_an_added_section_with_its_paragraphs_and_links() -> None:
    new = GUIDE_1_1 + md(
        """

        ## Interviews

        [randomlyCoding](https://www.reddit.com/user/randomlyCoding/) on production pipelines.
        """
    )
    diff = diff_guides(GUIDE_1_1, new)
    (section,) = diff.sections
    assert (section.status, section.key, section.level) == ("added", path(TOP, "Interviews"), 2)
    assert [p.new_text for p in section.paragraphs] == ["randomlyCoding on production pipelines."]
    assert [link.in_paragraph for link in section.links] == [True]
    assert diff.summary() == "1 section added, 1 new link"


def test_a_removed_section_is_one_compact_item() -> None:
    start = GUIDE_1_1.index("## Not in scope")
    diff = diff_guides(GUIDE_1_1, GUIDE_1_1[:start])
    (section,) = diff.sections
    assert section == SectionDiff(
        key=path(TOP, "Not in scope"),
        title="Not in scope",
        level=2,
        status="removed",
        removed_link_count=0,
        removed_paragraph_count=8,
    )
    assert section.item_count == 1
    assert diff.summary() == "1 section removed"


def test_a_removed_section_counts_the_links_that_left_the_guide_with_it() -> None:
    start = GUIDE_1_1.index("### Machine learning")
    end = GUIDE_1_1.index("### Deep learning")
    diff = diff_guides(GUIDE_1_1, GUIDE_1_1[:start] + GUIDE_1_1[end:])
    (section,) = diff.sections
    assert (section.status, section.removed_link_count, section.removed_paragraph_count) == (
        "removed",
        4,
        4,
    )
    assert section.links == () and section.paragraphs == ()
    assert diff.summary() == "4 links removed, 1 section removed"


def test_a_section_moved_under_another_heading_is_one_moved_item() -> None:
    section_text = GUIDE_1_1[
        GUIDE_1_1.index("### Does reading") : GUIDE_1_1.index("## Not in scope")
    ]
    new = edit(section_text, "")
    new = new.replace("### Prerequisites", section_text + "### Prerequisites")
    diff = diff_guides(GUIDE_1_1, new)
    (section,) = diff.sections
    title = "Does reading these materials make you a machine learning engineer?"
    assert (section.status, section.key, section.old_key) == (
        "moved",
        path(TOP, "Beginner track for machine learning", title),
        path(TOP, "What else?", title),
    )
    assert section.paragraphs == () and section.links == ()
    assert section.item_count == 1
    assert diff.summary() == "1 section moved"


def test_renaming_a_heading_moves_that_section_only_not_its_subsections() -> None:
    diff = diff_guides(GUIDE_1_1, edit("## What else?", "## Python packages to know"))
    (section,) = diff.sections
    assert (section.status, section.title, section.old_key) == (
        "moved",
        "Python packages to know",
        path(TOP, "What else?"),
    )
    # The links of its subsections did not move: their sections followed the heading.
    assert links_of(diff) == []


def test_removing_a_duplicate_heading_does_not_shift_the_others() -> None:
    old = "# Tools\n\nfirst\n\n# Tools\n\nsecond\n\n# Tools\n\nthird\n"
    new = "# Tools\n\nfirst\n\n# Tools\n\nthird, revised\n"
    diff = diff_guides(old, new)
    assert [(s.key, s.status) for s in diff.sections] == [
        ("Tools (2)", "removed"),
        ("Tools (2)", "changed"),
    ]
    assert marked(diff.sections[1].paragraphs[0]) == [("+", ", revised")]


def test_a_removed_section_is_listed_after_the_section_that_preceded_it() -> None:
    old = "# A\n\na\n\n# B\n\nb\n\n# C\n\nc\n"
    new = "# A\n\na\n\n# C\n\nc changed\n\n# D\n\nd\n"
    diff = diff_guides(old, new)
    assert [(s.key, s.status) for s in diff.sections] == [
        ("B", "removed"),
        ("C", "changed"),
        ("D", "added"),
    ]


def test_the_introduction_can_be_changed_added_and_removed() -> None:
    assert [s.status for s in diff_guides("# A\n", "intro\n\n# A\n").sections] == ["added"]
    assert [s.status for s in diff_guides("intro\n\n# A\n", "# A\n").sections] == ["removed"]
    assert [s.status for s in diff_guides("intro\n\n# A\n", "intro 2\n\n# A\n").sections] == [
        "changed"
    ]


# -- first version ----------------------------------------------------------------------------


def test_a_first_version_adds_every_section_paragraph_and_link_each_once() -> None:
    diff = diff_guides(None, GUIDE)
    parsed = parse_guide(GUIDE)
    assert [(s.key, s.status) for s in diff.sections] == [(k, "added") for k in parsed.section_keys]
    assert [p.new_text for p in paragraphs_of(diff)] == [
        b for s in parsed.sections for b in s.blocks
    ]
    assert {link.url for link in links_of(diff)} == set(parsed.links)
    assert all(link.in_paragraph for link in links_of(diff))
    assert diff.summary() == "5 sections added, 4 new links"


def test_an_empty_first_version_is_no_change() -> None:
    assert diff_guides(None, "").is_empty


# -- the summary ------------------------------------------------------------------------------


def test_the_summary_counts_what_a_reader_cares_about_each_once() -> None:
    new = edit("real contraints", "real constraints")
    new = edit("https://scipy-lectures.org/", "https://lectures.scientific-python.org/", new)
    new = edit("[Murphy (2022)]", "[Murphy (2022), Probabilistic Machine Learning]", new)
    new = edit(
        "- [XGBoost](https://xgboost.readthedocs.io/): gradient boosted trees.\n",
        "- [XGBoost](https://xgboost.readthedocs.io/): gradient boosted trees.\n"
        "- [CatBoost](https://catboost.ai/): boosted trees with categorical features.\n",
        new,
    )
    new = new[: new.index("## Not in scope")]
    diff = diff_guides(GUIDE_1_1, new)
    assert diff.summary() == (
        "1 new link, 1 link updated, 1 paragraph edited, 1 link retitled, 1 section removed"
    )
    counts = diff.counts()
    assert counts["new_links"] == 1 and counts["links_updated"] == 1
    assert counts["sections_changed"] == 3  # the three sections edited
    # Shown: the fix, the new bullet, the update, the retitle, the removed section.
    assert diff.item_count == 5


def test_a_section_mostly_rewritten_reads_as_one_section_rewritten() -> None:
    old = "# Tools\n\nAlpha beta gamma.\n\nDelta epsilon.\n\nZeta eta theta.\n"
    new = "# Tools\n\nOne two three.\n\nFour five six seven.\n\nZeta eta theta.\n"
    diff = diff_guides(old, new)
    assert diff.sections[0].rewritten
    assert diff.summary() == "1 section rewritten"


def test_an_empty_diff_summary_says_no_changes() -> None:
    assert GuideDiff().summary() == "No changes"
    assert GuideDiff().is_empty


# -- export -----------------------------------------------------------------------------------


def test_to_dict_is_json_serialisable_and_round_trips() -> None:
    new = edit("real contraints", "real constraints")
    new = edit("https://scipy-lectures.org/", "https://lectures.scientific-python.org/", new)
    new = new[: new.index("## Not in scope")] + "## Interviews\n\n[r](https://e.com/r)\n"
    diff = diff_guides(GUIDE_1_1, new)
    data = json.loads(json.dumps(diff.to_dict()))
    assert data["summary"] == diff.summary()
    assert data["counts"] == diff.counts()
    assert data["item_count"] == diff.item_count
    assert GuideDiff.from_dict(data) == diff


def test_from_dict_refuses_unknown_statuses_and_kinds() -> None:
    with pytest.raises(ValueError, match="status"):
        GuideDiff.from_dict({"sections": [{"key": "", "title": "t", "level": 0, "status": "x"}]})
    with pytest.raises(ValueError, match="link change"):
        GuideDiff.from_dict(
            {
                "sections": [
                    {
                        "key": "",
                        "title": "t",
                        "level": 0,
                        "status": "changed",
                        "links": [{"kind": "lost", "url": "u", "title": "t"}],
                    }
                ]
            }
        )
