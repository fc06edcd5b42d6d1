"""Markdown to safe HTML for guide content and changelog entries.

markdown-it-py parses CommonMark (raw HTML off); nh3 (the Ammonia sanitiser) then allows only the tags
and attributes a guide needs, so content can never inject script, even if the parser lets something
through. Headings get ids so sections can be linked from the diff.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
    "ol": {"start"},
    "td": {"align"}, "th": {"align"},
}  # fmt: skip
_URL_SCHEMES = {"http", "https", "mailto"}


def slugify_heading(text: str) -> str:
    """A stable anchor for a heading: lower case ASCII words joined by hyphens."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _add_heading_ids(tokens) -> None:
    seen: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            inline = tokens[index + 1]
            anchor = slugify_heading(inline.content)
            seen[anchor] = seen.get(anchor, 0) + 1
            if seen[anchor] > 1:
                anchor = f"{anchor}-{seen[anchor]}"
            token.attrSet("id", anchor)


def _clean(html: str) -> SafeString:
    cleaned = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitised by nh3 just above


def render_markdown(text: str) -> SafeString:
    """A whole guide text (block Markdown) as sanitised HTML."""
    tokens = _md.parse(text or "")
    _add_heading_ids(tokens)
    return _clean(_md.renderer.render(tokens, _md.options, {}))


@dataclass(frozen=True)
class TextSection:
    """A heading's part of a guide as plain text, under the anchor render_markdown gives it."""

    anchor: str  # "" for the text before the first heading
    title: str
    text: str


def text_sections(text: str) -> list[TextSection]:
    """The guide split at each heading into plain text (link titles kept, URLs and markup dropped),
    with the same anchors as render_markdown: what search indexes and links to."""
    tokens = _md.parse(text or "")
    _add_heading_ids(tokens)
    sections: list[TextSection] = []
    anchor, title, parts = "", "", []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "heading_open":
            if parts or title:
                sections.append(TextSection(anchor, title, " ".join(parts)))
            anchor = token.attrGet("id") or ""
            title = _inline_text(tokens[index + 1])
            parts = []
            index += 3
            continue
        if token.type == "inline":
            parts.append(_inline_text(token))
        elif token.type in ("fence", "code_block"):
            parts.append(token.content.strip())
        index += 1
    if parts or title:
        sections.append(TextSection(anchor, title, " ".join(parts)))
    return sections


def _inline_text(token) -> str:
    out = [
        child.content
        for child in token.children or []
        if child.type in ("text", "code_inline", "softbreak", "hardbreak")
    ]
    return " ".join("".join(part or " " for part in out).split())


def render_inline(text: str) -> SafeString:
    """One changelog entry (inline Markdown: links, emphasis, code) as sanitised HTML."""
    return _clean(_md.renderInline(text or ""))


def inline_to_text(text: str) -> str:
    """Inline Markdown as plain text for the text part of a mail: "[ISLP](url)" becomes "ISLP (url)"."""
    tokens = _md.parseInline(text or "")
    out: list[str] = []
    for block in tokens:
        href = None
        for child in block.children or []:
            if child.type == "link_open":
                href = child.attrGet("href")
            elif child.type == "link_close":
                if href:
                    out.append(f" <{href}>")
                href = None
            elif child.type in {"text", "code_inline"}:
                out.append(child.content)
            elif child.type in {"softbreak", "hardbreak"}:
                out.append(" ")
    return "".join(out).strip()
