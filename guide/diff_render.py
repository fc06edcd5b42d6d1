"""Plain-text and HTML renderings of a GuideDiff, for e-mails and web pages.

Both renderers show the same things in the same order, so the text/plain and text/html parts of
an e-mail tell the same story: per reported section a heading line with its status, then new,
removed, retitled and moved links, then removed and added paragraphs.

`limit` caps how many items (links + paragraphs) are shown in total, because a first version or a
large reorganisation can list thousands; when it cuts, a last line says how many were left out and
the caller links to the full compare page (`diff.item_count > limit` tells it that happened).

The HTML is built with html.escape only (no Django), has no inline style and no script, and only
ever puts http, https and mailto URLs in an href: a guide is edited by people, a diff can be
rebuilt from stored JSON, and either may carry a "javascript:" URL or markup in a title.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from guide.diff import INTRO_TITLE, GuideDiff, Link, MovedLink, RetitledLink, SectionDiff

__all__ = ["PARAGRAPH_MAX_CHARS", "is_safe_url", "render_html", "render_text"]

# Long enough for a real paragraph's gist, short enough that one quote does not fill an e-mail.
PARAGRAPH_MAX_CHARS = 300
NO_CHANGES = "No changes"
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_MINUS = "\N{MINUS SIGN}"
_ARROW = "\N{RIGHTWARDS ARROW}"
_ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"

# (SectionDiff attribute, label, HTML list class), in display order.
_LINK_GROUPS = (
    ("links_added", "New links", "diff-links-added"),
    ("links_removed", "Removed links", "diff-links-removed"),
    ("links_retitled", "Retitled links", "diff-links-retitled"),
    ("links_moved_in", "Moved here", "diff-links-moved"),
)
_LINK_LABELS = {attr: label for attr, label, _ in _LINK_GROUPS}
_LINK_CLASSES = {attr: css for attr, _, css in _LINK_GROUPS}
_PARAGRAPH_GROUPS = ("paragraphs_removed", "paragraphs_added")
NO_TEXT = "(no text)"


def is_safe_url(url: str) -> bool:
    """Whether `url` may become an href: an http, https or mailto URL, nothing else.

    Whitespace and control characters are refused outright because browsers drop them before
    reading the scheme ("java\\tscript:"); markdown-it percent-encodes them, so real links never
    have any. Relative URLs are refused too: they mean nothing in an e-mail.
    """
    if not url or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return False
    scheme, sep, _ = url.partition(":")
    return bool(sep) and scheme.lower() in _SAFE_SCHEMES


def _shorten(text: str, width: int = PARAGRAPH_MAX_CHARS) -> str:
    """Cut `text` to at most `width` characters, at a word boundary when there is one nearby."""
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    if space >= width * 2 // 3:
        cut = cut[:space]
    return cut.rstrip() + _ELLIPSIS


def _section_label(section: SectionDiff) -> str:
    # The heading path rather than the bare title: "Roadmap" alone is ambiguous in a guide where
    # every track has one.
    return section.key or section.title or INTRO_TITLE


def _more_line(hidden: int) -> str:
    return f"{_ELLIPSIS} and {hidden} more change{'' if hidden == 1 else 's'}"


def _plan(
    diff: GuideDiff, limit: int | None
) -> tuple[list[tuple[SectionDiff, list[tuple[str, Sequence[object]]]]], int]:
    """Which sections and items to show under `limit`, and how many items are left out.

    Shared by both renderers so that they always cut at the same place.
    """
    if limit is not None and limit < 0:
        raise ValueError("limit must be None or >= 0")
    total = diff.item_count
    budget = total if limit is None else min(limit, total)
    shown = 0
    plan: list[tuple[SectionDiff, list[tuple[str, Sequence[object]]]]] = []
    for section in diff.sections:
        if shown >= budget and shown < total:
            break  # no heading without at least one of its items
        groups: list[tuple[str, Sequence[object]]] = []
        for attr in (*(g[0] for g in _LINK_GROUPS), *_PARAGRAPH_GROUPS):
            items: Sequence[object] = getattr(section, attr)
            taken = items[: budget - shown]
            if taken:
                groups.append((attr, taken))
                shown += len(taken)
        plan.append((section, groups))
    return plan, total - shown


# --------------------------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------------------------


def _text_link(title: str, url: str) -> str:
    return f"{title} <{url}>" if title else f"<{url}>"


def _text_item(attr: str, item: object) -> str:
    if isinstance(item, RetitledLink):
        old_title = item.old_title or NO_TEXT
        return f"~ {old_title} {_ARROW} {_text_link(item.new_title, item.url)}"
    if isinstance(item, MovedLink):
        origin = item.old_section or INTRO_TITLE
        return f"{_ARROW} {_text_link(item.title, item.url)} (from {origin})"
    sign = "+" if attr in ("links_added", "paragraphs_added") else _MINUS
    if isinstance(item, Link):
        return f"{sign} {_text_link(item.title, item.url)}"
    # A paragraph. Code blocks keep their newlines: indent continuation lines under the sign.
    return f"{sign} " + (_shorten(str(item)) or NO_TEXT).replace("\n", "\n    ")


def render_text(diff: GuideDiff, *, limit: int | None = None) -> str:
    """The diff as plain text for the text/plain part of an e-mail.

    Lines are never wrapped (mail clients do it) and URLs follow titles in angle brackets, which
    mail clients make clickable without breaking them.
    """
    if diff.is_empty:
        return NO_CHANGES + "\n"
    plan, hidden = _plan(diff, limit)
    blocks: list[str] = []
    for section, groups in plan:
        label = _section_label(section)
        if section.status == "added":
            lines = [f"+ New section: {label}"]
        elif section.status == "removed":
            lines = [f"{_MINUS} Removed section: {label}"]
        else:
            lines = [f"## {label} ({section.status})"]
        in_paragraphs = False
        for attr, items in groups:
            if attr in _LINK_LABELS:
                lines.append(f"{_LINK_LABELS[attr]}:")
            elif not in_paragraphs:
                lines.append("Paragraphs:")
                in_paragraphs = True
            lines.extend(f"  {_text_item(attr, item)}" for item in items)
        blocks.append("\n".join(lines))
    if hidden:
        blocks.append(_more_line(hidden))
    return "\n\n".join(blocks) + "\n"


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def _html_link(title: str, url: str) -> str:
    text = escape(title or url)
    if is_safe_url(url):
        return f'<a href="{escape(url, quote=True)}" rel="noopener">{text}</a>'
    # Never an href: show what it was, inert, so an editor can spot and fix it.
    if not title:
        return f'<code class="diff-url">{text}</code>'
    return (
        f'<span class="diff-link-title">{text}</span> <code class="diff-url">{escape(url)}</code>'
    )


def _html_paragraph(text: str) -> str:
    return escape(_shorten(text) or NO_TEXT).replace("\n", "<br>")


def _html_item(item: object) -> str:
    if isinstance(item, RetitledLink):
        return (
            f'<span class="diff-old-title">{escape(item.old_title or NO_TEXT)}</span> {_ARROW} '
            + _html_link(item.new_title, item.url)
        )
    if isinstance(item, MovedLink):
        origin = escape(item.old_section or INTRO_TITLE)
        link = _html_link(item.title, item.url)
        return f'{link} <span class="diff-moved-from">(from {origin})</span>'
    if isinstance(item, Link):
        return _html_link(item.title, item.url)
    raise TypeError(f"not a link change: {item!r}")


def _html_heading(section: SectionDiff) -> str:
    label = escape(_section_label(section))
    if section.status == "added":
        return f'<h3><span class="diff-status">+ New section:</span> {label}</h3>'
    if section.status == "removed":
        return f'<h3><span class="diff-status">{_MINUS} Removed section:</span> {label}</h3>'
    return f'<h3>{label} <span class="diff-status">({escape(section.status)})</span></h3>'


def render_html(diff: GuideDiff, *, limit: int | None = None) -> str:
    """The diff as an HTML fragment for a web page or an e-mail body.

    Semantic markup with CSS classes only (the e-mail layer inlines a stylesheet); every piece of
    text is escaped and unsafe URLs are shown as text, so the result is safe to mark as safe.
    """
    if diff.is_empty:
        return f'<div class="diff diff-empty"><p class="diff-none">{NO_CHANGES}</p></div>\n'
    plan, hidden = _plan(diff, limit)
    out = ['<div class="diff">']
    for section, groups in plan:
        status = escape(section.status, quote=True)
        out.append(f'<section class="diff-section diff-{status}">')
        out.append(_html_heading(section))
        paragraphs: list[str] = []
        for attr, items in groups:
            if attr in _LINK_LABELS:
                out.append(f'<h4 class="diff-label">{_LINK_LABELS[attr]}</h4>')
                out.append(f'<ul class="{_LINK_CLASSES[attr]}">')
                out.extend(f"<li>{_html_item(item)}</li>" for item in items)
                out.append("</ul>")
            elif attr == "paragraphs_removed":
                paragraphs.extend(
                    f'<p class="diff-paragraph-removed"><span class="diff-sign">{_MINUS}</span> '
                    f"<del>{_html_paragraph(str(text))}</del></p>"
                    for text in items
                )
            else:
                paragraphs.extend(
                    '<p class="diff-paragraph-added"><span class="diff-sign">+</span> '
                    f"<ins>{_html_paragraph(str(text))}</ins></p>"
                    for text in items
                )
        if paragraphs:
            out.append('<div class="diff-paragraphs">')
            out.extend(paragraphs)
            out.append("</div>")
        out.append("</section>")
    if hidden:
        out.append(f'<p class="diff-more">{escape(_more_line(hidden))}</p>')
    out.append("</div>")
    return "\n".join(out) + "\n"
