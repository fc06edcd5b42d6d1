"""Plain-text and HTML renderings of a GuideDiff, for e-mails and web pages.

PROVISIONAL (issue 13): a minimal rendering of the word-level diff model while the mail and compare
page are rebuilt. Both renderers show the same things in the same order: per reported section a
heading line with its status, then its paragraphs (a changed one once, with [-deleted-] and
{+inserted+} words), then the link changes not already shown inside a paragraph.

`limit` caps how many items (SectionDiff.item_count) are shown in total; when it cuts, a last line
says how many were left out (`diff.item_count > limit` tells the caller that happened).

The HTML is built with html.escape only (no Django), has no inline style and no script, and only
ever puts http, https and mailto URLs in an href.
"""

from __future__ import annotations

from html import escape

from guide.diff import (
    ADDED,
    DELETE,
    INSERT,
    INTRO_TITLE,
    MOVED,
    REMOVED,
    GuideDiff,
    LinkChange,
    ParagraphChange,
    SectionDiff,
)

__all__ = ["PARAGRAPH_MAX_CHARS", "is_safe_url", "render_html", "render_text"]

# Long enough for a real paragraph's gist, short enough that one quote does not fill an e-mail.
PARAGRAPH_MAX_CHARS = 300
NO_CHANGES = "No changes"
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_MINUS = "\N{MINUS SIGN}"
_ARROW = "\N{RIGHTWARDS ARROW}"
_ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"
NO_TEXT = "(no text)"
_LINK_SIGNS = {"added": "+", "removed": _MINUS, "updated": "~", "retitled": "~", "moved": _ARROW}


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
    # The heading path rather than the bare title: "Roadmap" alone is ambiguous.
    return section.key or section.title or INTRO_TITLE


def _more_line(hidden: int) -> str:
    return f"{_ELLIPSIS} and {hidden} more change{'' if hidden == 1 else 's'}"


def _items(section: SectionDiff) -> list[object]:
    items: list[object] = []
    if section.status in (REMOVED, MOVED):
        items.append(section)
    items.extend(section.paragraphs)
    items.extend(section.listed_links)
    return items


def _plan(diff: GuideDiff, limit: int | None) -> tuple[list[tuple[SectionDiff, list[object]]], int]:
    """Which sections and items to show under `limit`, and how many items are left out."""
    if limit is not None and limit < 0:
        raise ValueError("limit must be None or >= 0")
    total = diff.item_count
    budget = total if limit is None else min(limit, total)
    shown = 0
    plan: list[tuple[SectionDiff, list[object]]] = []
    for section in diff.sections:
        if shown >= budget and shown < total:
            break  # no heading without at least one of its items
        taken = _items(section)[: budget - shown]
        shown += len(taken)
        plan.append((section, taken))
    return plan, total - shown


# --------------------------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------------------------


def _text_link(title: str, url: str) -> str:
    return f"{title} <{url}>" if title else f"<{url}>"


def _text_paragraph(paragraph: ParagraphChange) -> str:
    if paragraph.status == REMOVED:
        return f"{_MINUS} " + (_shorten(paragraph.old_text) or NO_TEXT).replace("\n", "\n    ")
    parts = []
    for span in paragraph.spans:
        text = span.text
        if span.href and span.op == INSERT:
            text = f"{text} <{span.href}>"  # a new link: its address, once, where it is
        if paragraph.status == ADDED:
            parts.append(text)
        elif span.op == INSERT:
            parts.append(f"{{+{text}+}}")
        elif span.op == DELETE:
            parts.append(f"[-{text}-]")
        else:
            parts.append(text)
    sign = "+" if paragraph.status == ADDED else "~"
    return f"{sign} " + ("".join(parts) or NO_TEXT).replace("\n", "\n    ")


def _text_link_change(link: LinkChange) -> str:
    sign = _LINK_SIGNS[link.kind]
    if link.kind == "updated":
        return f"{sign} {link.title or NO_TEXT}: <{link.old_url}> {_ARROW} <{link.url}>"
    if link.kind == "retitled":
        return f"{sign} {link.old_title or NO_TEXT} {_ARROW} {_text_link(link.title, link.url)}"
    if link.kind == "moved":
        origin = link.old_section or INTRO_TITLE
        return f"{sign} {_text_link(link.title, link.url)} (from {origin})"
    return f"{sign} {_text_link(link.title, link.url)}"


def _text_item(item: object) -> str:
    if isinstance(item, SectionDiff):
        if item.status == REMOVED:
            return (
                f"{item.removed_link_count} links, "
                f"{item.removed_paragraph_count} paragraphs removed"
            )
        return f"Moved from {item.old_key or INTRO_TITLE}"
    if isinstance(item, ParagraphChange):
        return _text_paragraph(item)
    return _text_link_change(item)  # type: ignore[arg-type]


def render_text(diff: GuideDiff, *, limit: int | None = None) -> str:
    """The diff as plain text for the text/plain part of an e-mail (never wrapped)."""
    if diff.is_empty:
        return NO_CHANGES + "\n"
    plan, hidden = _plan(diff, limit)
    blocks: list[str] = []
    for section, items in plan:
        label = _section_label(section)
        if section.status == ADDED:
            lines = [f"+ New section: {label}"]
        elif section.status == REMOVED:
            lines = [f"{_MINUS} Removed section: {label}"]
        else:
            lines = [f"## {label} ({section.status})"]
        lines.extend(f"  {_text_item(item)}" for item in items)
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
    return f'<code class="diff-url">{text}</code>'


def _html_text(text: str) -> str:
    return escape(text).replace("\n", "<br>")


def _html_paragraph(paragraph: ParagraphChange) -> str:
    parts = []
    for span in paragraph.spans:
        text = _html_text(span.text)
        if span.op != DELETE and span.href and is_safe_url(span.href):
            text = f'<a href="{escape(span.href, quote=True)}" rel="noopener">{text}</a>'
        if span.op == INSERT:
            text = f"<ins>{text}</ins>"
        elif span.op == DELETE:
            text = f"<del>{text}</del>"
        parts.append(text)
    return f'<p class="diff-paragraph diff-paragraph-{paragraph.status}">{"".join(parts)}</p>'


def _html_link_change(link: LinkChange) -> str:
    if link.kind == "updated":
        body = f"{_html_link(link.title, link.url)} <del>{escape(link.old_url)}</del>"
    elif link.kind == "retitled":
        body = f"<del>{escape(link.old_title or NO_TEXT)}</del> {_ARROW} " + _html_link(
            link.title, link.url
        )
    elif link.kind == "moved":
        origin = escape(link.old_section or INTRO_TITLE)
        body = f"{_html_link(link.title, link.url)} (from {origin})"
    elif link.kind == "removed":
        body = f"<del>{escape(link.title or link.url)}</del> <code>{escape(link.url)}</code>"
    else:
        body = _html_link(link.title, link.url)
    return f'<li class="diff-link diff-link-{escape(link.kind, quote=True)}">{body}</li>'


def _html_item(item: object) -> str:
    if isinstance(item, SectionDiff):
        return f'<p class="diff-section-note">{escape(_text_item(item))}</p>'
    if isinstance(item, ParagraphChange):
        return _html_paragraph(item)
    return f'<ul class="diff-links">{_html_link_change(item)}</ul>'  # type: ignore[arg-type]


def _html_heading(section: SectionDiff) -> str:
    label = escape(_section_label(section))
    if section.status == ADDED:
        return f'<h3><span class="diff-status">+ New section:</span> {label}</h3>'
    if section.status == REMOVED:
        return f'<h3><span class="diff-status">{_MINUS} Removed section:</span> {label}</h3>'
    return f'<h3>{label} <span class="diff-status">({escape(section.status)})</span></h3>'


def render_html(diff: GuideDiff, *, limit: int | None = None) -> str:
    """The diff as an escaped HTML fragment for a web page or an e-mail body."""
    if diff.is_empty:
        return f'<div class="diff diff-empty"><p class="diff-none">{NO_CHANGES}</p></div>\n'
    plan, hidden = _plan(diff, limit)
    out = ['<div class="diff">']
    for section, items in plan:
        status = escape(section.status, quote=True)
        out.append(f'<section class="diff-section diff-{status}">')
        out.append(_html_heading(section))
        out.extend(_html_item(item) for item in items)
        out.append("</section>")
    if hidden:
        out.append(f'<p class="diff-more">{escape(_more_line(hidden))}</p>')
    out.append("</div>")
    return "\n".join(out) + "\n"
