"""The one rendering of a diff (compare page, admin preview, release mail): a change shown as a
human edit, each link once, compact sections, the same cut in HTML and text, safe markup."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from guide.diff import GuideDiff, LinkChange, ParagraphChange, SectionDiff, Span, diff_guides
from guide.diff_render import (
    is_safe_url,
    render_html,
    render_text,
    section_context,
    section_sources,
)

SEP = " \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "


def section(status: str = "changed", key: str = "Tools", **fields: object) -> SectionDiff:
    title = key.rsplit(SEP, 1)[-1]
    return SectionDiff(key=key, title=title, level=key.count(SEP) + 1, status=status, **fields)  # type: ignore[arg-type]


def one(*sections: SectionDiff) -> GuideDiff:
    return GuideDiff(tuple(sections))


def edit(*spans: tuple[str, str] | tuple[str, str, str]) -> ParagraphChange:
    return ParagraphChange("changed", tuple(Span(*s) for s in spans))


def added(*spans: tuple[str, str] | tuple[str, str, str]) -> ParagraphChange:
    return ParagraphChange("added", tuple(Span("+", *s) for s in spans))


class _Collector(HTMLParser):
    """Start tags with attributes, and the text inside each tag name: what a browser sees."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def start_tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser.tags


def hrefs(html: str) -> list[str]:
    return [
        attrs["href"] or "" for tag, attrs in start_tags(html) if tag == "a" and "href" in attrs
    ]


TYPO = one(
    section(
        paragraphs=(
            edit(
                ("=", "Not until you make projects with real "),
                ("-", "contraints"),
                ("+", "constraints"),
                ("=", "."),
            ),
        )
    )
)


# --- A change as a human edit -----------------------------------------------------------------------


def test_a_one_word_fix_is_one_paragraph_with_the_word_marked_inline() -> None:
    html = render_html(TYPO)

    assert html.count("<p ") == 1
    assert "with real <del>contraints</del><ins>constraints</ins>." in html
    assert "Not until you make projects with real [-contraints-]{+constraints+}." in render_text(
        TYPO
    )


def test_an_added_paragraph_is_shown_once_labelled_new() -> None:
    diff = one(
        section(
            paragraphs=(
                added(
                    ("A new paragraph.",),
                ),
            )
        )
    )

    assert re.search(
        r'<p class="diff-p diff-p-added"><span class="diff-tag[^"]*">New</span> A new paragraph\.</p>',
        render_html(diff),
    )
    assert "New: A new paragraph." in render_text(diff)


def test_a_removed_paragraph_is_struck_once_labelled_removed() -> None:
    diff = one(section(paragraphs=(ParagraphChange("removed", (Span("-", "Old words."),)),)))

    assert "Removed</span> <del>Old words.</del></p>" in render_html(diff)
    assert "Removed: Old words." in render_text(diff)


def test_long_unchanged_text_around_a_change_is_shortened_but_the_change_and_links_are_kept() -> (
    None
):
    long = "word " * 200
    diff = one(
        section(
            paragraphs=(
                edit(
                    ("=", long),
                    ("-", "old"),
                    ("+", "new"),
                    ("=", long),
                    ("=", "a link", "https://e.com/l"),
                    ("=", long),
                ),
            )
        )
    )

    html, text = render_html(diff), render_text(diff)

    assert len(html) < 1_000 and len(text) < 700
    assert "<del>old</del><ins>new</ins>" in html and "[-old-]{+new+}" in text
    assert hrefs(html) == ["https://e.com/l"]
    assert text.count("…") == 3


# --- Each link once ---------------------------------------------------------------------------------


def test_a_new_link_is_highlighted_inside_its_paragraph_and_not_listed_again() -> None:
    url = "https://scikit-learn.org/"
    diff = one(
        section(
            paragraphs=(added(("Use ",), ("scikit-learn", url), (" for models.",)),),
            links=(LinkChange("added", url, "scikit-learn", in_paragraph=True),),
        )
    )

    html, text = render_html(diff), render_text(diff)

    assert hrefs(html) == [url]
    assert (
        f'<ins class="diff-new-link"><a href="{url}" rel="noopener">scikit-learn</a></ins>' in html
    )
    assert "New link" not in html
    assert text.count(url) == 1 and f"Use scikit-learn <{url}> for models." in text


def test_a_new_link_inside_an_edited_paragraph_is_marked_as_an_insertion() -> None:
    url = "https://e.com/new"
    diff = one(
        section(
            paragraphs=(edit(("=", "See "), ("+", "this", url), ("=", " first.")),),
            links=(LinkChange("added", url, "this", in_paragraph=True),),
        )
    )

    assert (
        f'See <ins class="diff-new-link"><a href="{url}" rel="noopener">this</a></ins> first.'
        in render_html(diff)
    )
    assert f"See {{+this+}} <{url}> first." in render_text(diff)


def test_a_new_link_whose_paragraph_is_not_shown_is_listed_once() -> None:
    url = "https://e.com/a"
    diff = one(section(links=(LinkChange("added", url, "A tool"),)))

    html, text = render_html(diff), render_text(diff)

    assert hrefs(html) == [url] and "New link" in html
    assert f"New link: A tool <{url}>" in text


def test_an_updated_link_is_one_item_its_old_url_struck_and_the_new_one_clickable() -> None:
    old, new = "https://scipy-lectures.org/", "https://lectures.scientific-python.org/"
    diff = one(
        section(links=(LinkChange("updated", new, "Scientific Python Lectures", old_url=old),))
    )

    html, text = render_html(diff), render_text(diff)

    assert html.count("<li") == 1 and "Link updated" in html
    assert hrefs(html) == [new]
    assert '<del class="diff-old-url">scipy-lectures.org</del> → ' in html
    assert text.count("Link updated") == 1
    assert f"Link updated: Scientific Python Lectures <{new}>, was scipy-lectures.org" in text
    assert old not in text  # the old URL is not clickable in the text part either


def test_a_renamed_link_is_one_item_with_its_old_title_struck() -> None:
    diff = one(
        section(
            links=(
                LinkChange(
                    "retitled", "https://e.com/b", "Murphy (2022), PML", old_title="Murphy (2022)"
                ),
            )
        )
    )

    html = render_html(diff)

    assert '<del class="diff-old-title">Murphy (2022)</del> → <a href="https://e.com/b"' in html
    assert "Link renamed: Murphy (2022) → Murphy (2022), PML <https://e.com/b>" in render_text(diff)


def test_a_removed_link_is_struck_and_never_clickable() -> None:
    gone = "https://e.com/gone"
    diff = one(
        section(
            paragraphs=(
                edit(("=", "Read "), ("-", "the book", gone), ("+", "nothing"), ("=", ".")),
            ),
            links=(LinkChange("removed", gone, "The book"),),
        )
    )

    html, text = render_html(diff), render_text(diff)

    assert hrefs(html) == [] and gone not in html and gone not in text
    assert "<del>the book</del>" in html
    assert '<del class="diff-removed-link">The book</del>' in html
    assert "Link removed: The book" in text


# --- Sections ---------------------------------------------------------------------------------------


def test_a_removed_section_is_one_line_with_its_counts() -> None:
    diff = one(section("removed", key="Obsolete", removed_link_count=12, removed_paragraph_count=3))

    html, text = render_html(diff), render_text(diff)

    assert 'Obsolete<span class="diff-count"> · 12 links, 3 paragraphs</span></h3>' in html
    assert html.count("<del") == 0 and html.count("<p") == 0
    assert text.strip() == "## Section Obsolete removed: 12 links, 3 paragraphs"


def test_a_moved_section_is_one_line_naming_where_it_was() -> None:
    diff = one(section("moved", key="Advanced" + SEP + "Interviews", old_key="Interviews"))

    assert "Interviews (moved from Interviews)" in render_text(diff)
    assert (
        '<span class="diff-tag diff-tag-moved">Moved</span> Advanced › Interviews'
        '<span class="diff-count"> · from Interviews</span>' in render_html(diff)
    )


def test_a_title_every_section_shares_is_left_out_of_their_labels() -> None:
    diff = one(
        section(
            key="The MLMW guide" + SEP + "Tools", links=(LinkChange("added", "https://e.com", "e"),)
        ),
        section("removed", key="The MLMW guide" + SEP + "Old", removed_link_count=1),
    )

    text = render_text(diff)

    assert "## Tools\n" in text and "## Section Old removed" in text
    assert "The MLMW guide" not in text and "The MLMW guide" not in render_html(diff)


def test_a_new_section_with_only_its_heading_is_shown() -> None:
    diff = one(section("added", key="Datasets"))

    assert render_text(diff).strip() == "## New section: Datasets"
    assert "New</span> Datasets</h3>" in render_html(diff)
    assert render_text(diff, limit=0) == render_text(diff)  # nothing in it to cut


def test_an_empty_diff_says_no_changes() -> None:
    assert render_text(GuideDiff()) == "No changes\n"
    assert "No changes" in render_html(GuideDiff())


# --- The same cut in both parts ---------------------------------------------------------------------

MANY = one(
    section(key="A", paragraphs=tuple(added((f"Paragraph {n}.",)) for n in range(3))),
    section(
        key="B",
        links=tuple(LinkChange("added", f"https://e.com/{n}", f"Link {n}") for n in range(3)),
    ),
    section("removed", key="C", removed_link_count=5, removed_paragraph_count=1),
)


def test_both_renderings_cut_at_the_same_item_and_link_the_rest() -> None:
    more = "https://site.example/guides/mlmw/compare/0.9.0...1.0.0/"

    html, text = (
        render_html(MANY, limit=4, more_url=more),
        render_text(MANY, limit=4, more_url=more),
    )

    for rendering in (html, text):
        assert "Paragraph 2." in rendering and "Link 0" in rendering
        assert "Link 1" not in rendering and "C removed" not in rendering
    assert 'id="change-c"' not in html
    assert re.search(
        rf'<p class="diff-more"><a href="{re.escape(more)}">3 more changes: see them on the web</a></p>',
        html,
    )
    assert text.endswith(f"3 more changes: see them on the web: {more}\n")


def test_a_section_is_never_shown_without_one_of_its_items() -> None:
    html = render_html(MANY, limit=3)

    assert "Paragraph 2." in html and ">B</h3>" not in html
    assert "1 more change: see them on the web" not in html and "4 more changes" in html


def test_a_limit_at_or_above_the_item_count_cuts_nothing() -> None:
    assert "more change" not in render_html(MANY, limit=7) + render_text(MANY, limit=7)


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        render_html(MANY, limit=-1)


# --- Page navigation --------------------------------------------------------------------------------


def test_each_section_has_an_anchor_and_on_the_page_a_link_to_the_next_change() -> None:
    html = render_html(MANY, navigation=True)

    ids = [
        attrs["id"]
        for tag, attrs in start_tags(html)
        if tag == "div" and "diff-section" in (attrs.get("class") or "")
    ]
    assert ids == ["change-a", "change-b", "change-c"]
    assert [h for h in hrefs(html) if h.startswith("#")] == ["#change-b", "#change-c", "#changes"]
    assert 'id="changes"' in html


def test_the_mail_rendering_has_anchors_but_no_next_change_links() -> None:
    html = render_html(MANY)

    assert 'id="change-a"' in html and "Next change" not in html


def test_a_changed_section_carries_its_current_text_collapsed() -> None:
    guide = (
        "# Guide\n\nIntro.\n\n## Tools\n\nUse a hammer.\n\n```\n# not a heading\n```\n\n"
        "## Other\n\nElse.\n"
    )
    diff = one(section(key="Guide" + SEP + "Tools", paragraphs=(added(("Use a hammer.",)),)))

    context = section_context(diff, guide, lambda md: f"<pre>{md}</pre>")
    html = render_html(diff, navigation=True, context=context)

    assert list(context) == ["Guide" + SEP + "Tools"]
    assert (
        '<details class="diff-context"><summary>The whole section as it reads now</summary>' in html
    )
    assert "Use a hammer.\n\n```\n# not a heading\n```</pre>" in html


def test_section_sources_follow_the_diffs_heading_paths() -> None:
    sources = section_sources("Intro.\n\n# A\n\none\n\n## B\n\ntwo\n\n# A\n\nthree\n")

    assert sources == {"": "Intro.", "A": "one", "A" + SEP + "B": "two", "A (2)": "three"}


# --- Safe markup ------------------------------------------------------------------------------------


def test_script_in_titles_and_text_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    diff = one(
        section(
            key=evil,
            paragraphs=(edit(("=", evil), ("+", evil, "https://e.com/x")), added((evil,))),
            links=(
                LinkChange(
                    "updated", "https://e.com/a", evil, old_url="https://e.com/b", old_title=evil
                ),
                LinkChange("retitled", "https://e.com/c", evil, old_title=evil),
                LinkChange("moved", "https://e.com/d", evil, old_section=evil),
                LinkChange("removed", "https://e.com/e", evil),
            ),
        ),
        section("removed", key=evil + "2"),
    )

    html = render_html(diff, navigation=True)

    assert "<script" not in html and "&lt;script&gt;" in html
    assert not [tag for tag, _ in start_tags(html) if tag == "script"]


def test_script_written_in_the_guide_is_escaped_end_to_end() -> None:
    old = "# S\n\ntext\n"
    new = '# S <script>x</script>\n\n[<b onmouseover="x">hi</b>](https://e.com/x)\n\n<script>y</script>\n'

    html = render_html(diff_guides(old, new))

    assert "<script" not in html and "<b " not in html


def test_the_html_has_no_inline_style_or_script() -> None:
    html = render_html(MANY, navigation=True) + render_html(TYPO)

    assert not [
        attrs
        for _, attrs in start_tags(html)
        if "style" in attrs or any(a.startswith("on") for a in attrs)
    ]


def test_a_quote_in_a_url_cannot_break_out_of_the_href() -> None:
    diff = one(section(links=(LinkChange("added", 'https://e.com/"onclick="x', "t"),)))

    (anchor,) = [attrs for tag, attrs in start_tags(render_html(diff)) if tag == "a"]
    assert anchor == {"href": 'https://e.com/"onclick="x', "rel": "noopener"}


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "java\tscript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "/relative/path",
        "//e.com/protocol-relative",
        "",
    ],
)
def test_unsafe_urls_never_become_hrefs(url: str) -> None:
    diff = one(
        section(
            paragraphs=(edit(("=", "See "), ("+", "click me", url)), added(("in", url))),
            links=(
                LinkChange("added", url, "click me too"),
                LinkChange("updated", url, "u", old_url="https://e.com"),
                LinkChange("retitled", url, "a", old_title="b"),
                LinkChange("moved", url, "m", old_section="T"),
                LinkChange("removed", url, ""),
            ),
        )
    )

    assert not is_safe_url(url)
    html = render_html(diff)
    assert not any("href" in attrs for _, attrs in start_tags(html))
    assert "click me" in html and "click me too" in html
    assert f"<{url}>" not in render_text(diff)


@pytest.mark.parametrize(
    "url", ["http://e.com", "https://e.com/a?b=c&d=e", "HTTPS://E.COM", "mailto:a@e.com"]
)
def test_http_https_and_mailto_urls_become_escaped_hrefs(url: str) -> None:
    diff = one(section(links=(LinkChange("added", url, "t"),)))

    (anchor,) = [attrs for tag, attrs in start_tags(render_html(diff)) if tag == "a"]
    assert anchor["href"] == url
    if "&" in url:
        assert "&amp;" in render_html(diff)


def test_a_removed_section_without_links_does_not_say_0_links():
    from guide.diff import REMOVED, GuideDiff, SectionDiff
    from guide.diff_render import render_html, render_text

    diff = GuideDiff(
        (SectionDiff(key="Gone", title="Gone", level=2, status=REMOVED, removed_paragraph_count=8),)
    )

    assert 'Gone<span class="diff-count"> · 8 paragraphs</span>' in render_html(diff)
    assert "0 links" not in render_text(diff) and "8 paragraphs" in render_text(diff)
