"""The text and HTML renderings of a diff: content, order, escaping, unsafe URLs, truncation."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from guide.diff import GuideDiff, Link, MovedLink, RetitledLink, SectionDiff, diff_guides
from guide.diff_render import PARAGRAPH_MAX_CHARS, is_safe_url, render_html, render_text

OLD = """Intro.

# Reference texts

[Old title](https://example.com/book) and [gone](https://example.com/gone).

Kept paragraph.

# Tools

[Jupyter](https://jupyter.org)

# Obsolete

Forget this.
"""

NEW = """Intro.

# Reference texts

[New title](https://example.com/book) and [fresh](https://example.com/fresh).

Kept paragraph.

# Tools

Nothing.

# Datasets

[Jupyter](https://jupyter.org)
"""


@pytest.fixture
def diff() -> GuideDiff:
    return diff_guides(OLD, NEW)


def section(status: str = "changed", **fields: object) -> SectionDiff:
    return SectionDiff(key="S", title="S", level=1, status=status, **fields)  # type: ignore[arg-type]


class _Collector(HTMLParser):
    """Records start tags and their attributes; a parse of what a browser would see."""

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


# -- plain text -------------------------------------------------------------------------------


def test_text_shows_each_section_with_its_status_in_order(diff: GuideDiff) -> None:
    text = render_text(diff)
    headings = [line for line in text.splitlines() if re.match(r"^(## |\+ New|− Removed)", line)]
    # The removed section follows the surviving section that preceded it in the old document.
    assert headings == [
        "## Reference texts (changed)",
        "## Tools (changed)",
        "− Removed section: Obsolete",
        "+ New section: Datasets",
    ]


def test_text_lists_links_with_urls_in_angle_brackets(diff: GuideDiff) -> None:
    text = render_text(diff)
    assert "New links:\n  + fresh <https://example.com/fresh>" in text
    assert "Removed links:\n  − gone <https://example.com/gone>" in text
    assert "Retitled links:\n  ~ Old title → New title <https://example.com/book>" in text
    assert "Moved here:\n  → Jupyter <https://jupyter.org> (from Tools)" in text


def test_text_prefixes_removed_paragraphs_with_minus_and_added_with_plus(diff: GuideDiff) -> None:
    text = render_text(diff)
    assert "  − Old title and gone." in text
    assert "  + New title and fresh." in text
    assert "  − Forget this." in text
    assert "Kept paragraph" not in text


def test_text_is_never_wrapped() -> None:
    long_title = "word " * 80
    d = GuideDiff((section(links_added=(Link("https://e.com/x", long_title.strip(), "S"),)),))
    line = next(line for line in render_text(d).splitlines() if "https://e.com/x" in line)
    assert len(line) > 400


def test_long_paragraphs_are_shortened_with_an_ellipsis() -> None:
    paragraph = "lorem ipsum " * 100
    d = GuideDiff((section(paragraphs_added=(paragraph,)),))
    line = next(line for line in render_text(d).splitlines() if "lorem" in line)
    shown = line.removeprefix("  + ")
    assert shown.endswith("…")
    assert len(shown) <= PARAGRAPH_MAX_CHARS
    assert len(shown) > PARAGRAPH_MAX_CHARS * 2 // 3
    assert "…" in render_html(d)


def test_a_link_without_text_is_shown_by_its_url() -> None:
    d = GuideDiff((section(links_added=(Link("https://e.com/x", "", "S"),)),))
    assert "  + <https://e.com/x>" in render_text(d)
    assert '<a href="https://e.com/x" rel="noopener">https://e.com/x</a>' in render_html(d)


def test_multi_line_code_stays_under_its_sign_in_text() -> None:
    d = GuideDiff((section(paragraphs_added=("def f():\n    return 1",)),))
    assert "  + def f():\n        return 1" in render_text(d)
    assert "def f():<br>    return 1" in render_html(d)


def test_an_empty_diff_renders_a_no_changes_line() -> None:
    assert render_text(GuideDiff()) == "No changes\n"
    html = render_html(GuideDiff())
    assert "No changes" in html
    assert html.startswith('<div class="diff')


def test_an_added_section_without_content_still_shows_its_heading() -> None:
    d = diff_guides("# A\n", "# A\n\n# B\n")
    assert render_text(d) == "+ New section: B\n"
    assert "New section:</span> B</h3>" in render_html(d)


def test_nested_sections_are_shown_by_their_heading_path() -> None:
    d = diff_guides("# Track\n\n## Roadmap\n\nx\n", "# Track\n\n## Roadmap\n\ny\n")
    assert render_text(d).startswith("## Track › Roadmap (changed)\n")


def test_the_introduction_is_named_in_moved_from_lines() -> None:
    d = GuideDiff((section(links_moved_in=(MovedLink("https://e.com/x", "x", "", "S"),)),))
    assert "(from (introduction))" in render_text(d)


# -- limit ------------------------------------------------------------------------------------


def test_limit_caps_the_items_and_says_how_many_remain(diff: GuideDiff) -> None:
    assert diff.item_count > 3
    text = render_text(diff, limit=3)
    items = [line for line in text.splitlines() if line.startswith("  ")]
    assert len(items) == 3
    assert text.rstrip().endswith(f"… and {diff.item_count - 3} more changes")
    html = render_html(diff, limit=3)
    assert html.count("<li>") + html.count('<p class="diff-paragraph') == 3
    assert f"… and {diff.item_count - 3} more changes" in html


def test_limit_uses_the_singular_for_one_remaining_change(diff: GuideDiff) -> None:
    text = render_text(diff, limit=diff.item_count - 1)
    assert text.rstrip().endswith("… and 1 more change")


def test_a_limit_at_or_above_the_item_count_cuts_nothing(diff: GuideDiff) -> None:
    full = render_text(diff)
    assert render_text(diff, limit=diff.item_count) == full
    assert render_text(diff, limit=diff.item_count + 10) == full
    assert "more change" not in full
    assert render_html(diff, limit=diff.item_count) == render_html(diff)


def test_limit_zero_shows_only_the_remaining_count(diff: GuideDiff) -> None:
    assert render_text(diff, limit=0) == f"… and {diff.item_count} more changes\n"
    assert "<section" not in render_html(diff, limit=0)


def test_a_section_is_not_shown_without_any_of_its_items(diff: GuideDiff) -> None:
    first = diff.sections[0]
    text = render_text(diff, limit=first.item_count)
    assert "## Tools" not in text


def test_a_negative_limit_is_refused(diff: GuideDiff) -> None:
    with pytest.raises(ValueError):
        render_text(diff, limit=-1)
    with pytest.raises(ValueError):
        render_html(diff, limit=-1)


# -- HTML structure and safety ----------------------------------------------------------------


def test_html_is_semantic_markup_with_classes(diff: GuideDiff) -> None:
    html = render_html(diff)
    assert html.startswith('<div class="diff">')
    for css in (
        'class="diff-section diff-changed"',
        'class="diff-section diff-added"',
        'class="diff-section diff-removed"',
        'class="diff-links-added"',
        'class="diff-links-removed"',
        'class="diff-links-retitled"',
        'class="diff-links-moved"',
    ):
        assert css in html
    assert "<h3>" in html
    assert "<ins>New title and fresh.</ins>" in html
    assert "<del>Old title and gone.</del>" in html


def test_html_has_no_inline_style_or_script(diff: GuideDiff) -> None:
    for tag, attrs in start_tags(render_html(diff)):
        assert tag != "script"
        assert "style" not in attrs
        assert not any(name.startswith("on") for name in attrs)


def test_html_links_open_with_noopener(diff: GuideDiff) -> None:
    anchors = [attrs for tag, attrs in start_tags(render_html(diff)) if tag == "a"]
    assert anchors
    assert all(attrs["rel"] == "noopener" for attrs in anchors)


def test_script_in_titles_and_paragraphs_is_escaped_in_html() -> None:
    evil = '<script>alert("x")</script>'
    d = GuideDiff(
        (
            SectionDiff(
                key=evil,
                title=evil,
                level=1,
                status="changed",
                links_added=(Link("https://e.com/a", evil, evil),),
                links_retitled=(RetitledLink("https://e.com/b", evil, evil, evil),),
                links_moved_in=(MovedLink("https://e.com/c", evil, evil, evil),),
                paragraphs_added=(evil,),
                paragraphs_removed=(evil,),
            ),
        )
    )
    html = render_html(d)
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert [tag for tag, _ in start_tags(html)].count("script") == 0


def test_script_written_in_the_guide_is_escaped_end_to_end() -> None:
    old = "# S\n\ntext\n"
    new = '# S <script>x</script>\n\n[<b onmouseover="x">hi</b>](https://e.com/x)\n\n<script>y</script>\n'
    html = render_html(diff_guides(old, new))
    assert "<script" not in html
    assert "<b " not in html


def test_a_quote_in_a_url_cannot_break_out_of_the_href() -> None:
    d = GuideDiff((section(links_added=(Link('https://e.com/"onclick="x', "t", "S"),)),))
    (anchor,) = [attrs for tag, attrs in start_tags(render_html(d)) if tag == "a"]
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
    d = GuideDiff(
        (
            section(
                links_added=(Link(url, "click me", "S"),),
                links_removed=(Link(url, "", "S"),),
                links_retitled=(RetitledLink(url, "a", "b", "S"),),
                links_moved_in=(MovedLink(url, "m", "T", "S"),),
            ),
        )
    )
    assert not is_safe_url(url)
    tags = start_tags(render_html(d))
    assert not any("href" in attrs for _, attrs in tags)
    assert "click me" in render_html(d)


@pytest.mark.parametrize(
    "url", ["http://e.com", "https://e.com/a?b=c&d=e", "HTTPS://E.COM", "mailto:a@e.com"]
)
def test_http_https_and_mailto_urls_become_escaped_hrefs(url: str) -> None:
    d = GuideDiff((section(links_added=(Link(url, "t", "S"),)),))
    (anchor,) = [attrs for tag, attrs in start_tags(render_html(d)) if tag == "a"]
    assert anchor["href"] == url
    if "&" in url:
        assert "&amp;" in render_html(d)


def test_the_text_rendering_shows_unsafe_urls_as_text() -> None:
    d = GuideDiff((section(links_added=(Link("javascript:alert(1)", "x", "S"),)),))
    assert "+ x <javascript:alert(1)>" in render_text(d)


def test_items_without_text_say_so() -> None:
    d = GuideDiff(
        (
            section(
                links_retitled=(RetitledLink("https://e.com/x", "", "x", "S"),),
                paragraphs_added=("",),
            ),
        )
    )
    assert "  ~ (no text) → x <https://e.com/x>" in render_text(d)
    assert "  + (no text)" in render_text(d)
    assert "<ins>(no text)</ins>" in render_html(d)
