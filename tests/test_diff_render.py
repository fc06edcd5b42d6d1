"""The text and HTML renderings of a diff: content, order, escaping, unsafe URLs, truncation."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from guide.diff import GuideDiff, LinkChange, ParagraphChange, SectionDiff, Span, diff_guides
from guide.diff_render import is_safe_url, render_html, render_text

OLD = """Intro.

# Reference texts

[Old title](https://example.com/book) and [gone](https://example.com/gone) are the contraints.

Kept paragraph.

# Tools

[Jupyter](https://jupyter.org) notebooks.

# Obsolete

Forget this.
"""

NEW = """Intro.

# Reference texts

[New title](https://example.com/book) and [fresh](https://example.com/fresh) are the constraints.

Kept paragraph.

# Tools

Nothing.

# Datasets

[Jupyter](https://jupyter.org) notebooks.
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


def test_text_shows_a_changed_paragraph_once_with_its_words_marked(diff: GuideDiff) -> None:
    text = render_text(diff)
    assert "[-contraints-]{+constraints+}" in text
    assert "Kept paragraph" not in text


def test_text_shows_sections_in_order_with_a_compact_removed_section(diff: GuideDiff) -> None:
    text = render_text(diff)
    assert text.index("## Reference texts") < text.index("## Tools") < text.index("Obsolete")
    assert "− Removed section: Obsolete\n  0 links, 1 paragraphs removed" in text


def test_html_marks_inserted_and_deleted_words_and_links_new_text(diff: GuideDiff) -> None:
    html = render_html(diff)
    assert "<del>contraints</del>" in html and "<ins>constraints</ins>" in html
    assert '<ins><a href="https://example.com/fresh" rel="noopener">fresh</a></ins>' in html


def test_an_empty_diff_renders_a_no_changes_line() -> None:
    assert render_text(GuideDiff()) == "No changes\n"
    assert "No changes" in render_html(GuideDiff())


def test_limit_caps_the_items_and_says_how_many_remain(diff: GuideDiff) -> None:
    assert diff.item_count > 3
    assert render_text(diff, limit=diff.item_count - 1).rstrip().endswith("… and 1 more change")
    text = render_text(diff, limit=2)
    assert text.rstrip().endswith(f"… and {diff.item_count - 2} more changes")
    assert f"… and {diff.item_count - 2} more changes" in render_html(diff, limit=2)
    assert render_text(diff, limit=diff.item_count) == render_text(diff)
    with pytest.raises(ValueError):
        render_text(diff, limit=-1)


def test_html_has_no_inline_style_or_script(diff: GuideDiff) -> None:
    for tag, attrs in start_tags(render_html(diff)):
        assert tag != "script"
        assert "style" not in attrs
        assert not any(name.startswith("on") for name in attrs)


def test_script_in_titles_paragraphs_and_links_is_escaped_in_html() -> None:
    evil = '<script>alert("x")</script>'
    d = GuideDiff(
        (
            SectionDiff(
                key=evil,
                title=evil,
                level=1,
                status="changed",
                paragraphs=(
                    ParagraphChange(
                        "changed", (Span("=", evil), Span("-", evil), Span("+", evil, evil))
                    ),
                ),
                links=(
                    LinkChange("added", "https://e.com/a", evil),
                    LinkChange("retitled", "https://e.com/b", evil, old_title=evil),
                    LinkChange("moved", "https://e.com/c", evil, old_section=evil),
                    LinkChange("updated", "https://e.com/d", evil, old_url=evil),
                ),
            ),
        )
    )
    html = render_html(d)
    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_script_written_in_the_guide_is_escaped_end_to_end() -> None:
    old = "# S\n\ntext\n"
    new = '# S <script>x</script>\n\n[<b onmouseover="x">hi</b>](https://e.com/x)\n\n<script>y</script>\n'
    html = render_html(diff_guides(old, new))
    assert "<script" not in html
    assert "<b " not in html


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/relative/path",
        "",
    ],
)
def test_unsafe_urls_never_become_hrefs(url: str) -> None:
    d = GuideDiff(
        (
            section(
                paragraphs=(ParagraphChange("added", (Span("+", "click me", url),)),),
                links=(LinkChange("added", url, "click me"), LinkChange("moved", url, "m")),
            ),
        )
    )
    assert not is_safe_url(url)
    tags = start_tags(render_html(d))
    assert not any("href" in attrs for _, attrs in tags)
    assert "click me" in render_html(d)


def test_a_quote_in_a_url_cannot_break_out_of_the_href() -> None:
    d = GuideDiff((section(links=(LinkChange("added", 'https://e.com/"onclick="x', "t"),)),))
    (anchor,) = [attrs for tag, attrs in start_tags(render_html(d)) if tag == "a"]
    assert anchor == {"href": 'https://e.com/"onclick="x', "rel": "noopener"}
