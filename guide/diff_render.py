"""The one rendering of a GuideDiff, as HTML (compare page, admin preview, release mail) and as
plain text (the mail's text part).

What a reader sees, section by section, in the order of the new guide:
- a changed paragraph once, with the changed words marked inline (<ins>/<del>; `[-old-]{+new+}`
  in text); an added or removed paragraph once, labelled;
- a new link inside its paragraph, highlighted, never listed again; only links whose paragraph is
  not shown (a URL update, a rename, a move, a removal) are listed, one line each;
- a removed section as one line with its counts, a moved section as one line plus its own edits.

Both renderers follow one `Plan`, so the two parts of a mail cut at the same item when a `limit`
applies, and both end with "N more changes: see them on the web" when something was left out.

The HTML is built with html.escape only, has no inline style and no script (the mail inlines its
own stylesheet, the site links one), and only ever puts http, https and mailto URLs in an href: a
guide is edited by people, a diff can be rebuilt from stored JSON, and either may carry a
"javascript:" URL or markup in a title. Removed links are struck and never clickable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

from guide.diff import (
    ADDED,
    CHANGED,
    DELETE,
    INSERT,
    MOVED,
    REMOVED,
    GuideDiff,
    LinkChange,
    ParagraphChange,
    SectionDiff,
    Span,
)
from guide.markdown import slugify_heading

__all__ = [
    "CONTEXT_CHARS",
    "Plan",
    "is_safe_url",
    "more_line",
    "plan",
    "render_html",
    "render_text",
    "section_label",
]

NO_CHANGES = "No changes"
INTRODUCTION = "Introduction"
# Unchanged text kept around a change: enough to recognise the sentence, short enough that a
# one-word fix in a long paragraph stays a one-line read.
CONTEXT_CHARS = 90
# An added or removed paragraph is shown up to this many characters of plain text (its links
# are always kept: a new link is shown nowhere else).
PARAGRAPH_CHARS = 320
CODE_LINES = 12
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_ARROW = "\N{RIGHTWARDS ARROW}"
_ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"
_MINUS = "\N{MINUS SIGN}"
_SEPARATOR = " \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "  # guide.diff's heading path

# Listed links, in display order, with the label a reader sees.
_LINK_ORDER = ("updated", "added", "retitled", "moved", "removed")
_LINK_LABELS = {
    "updated": "Link updated",
    "added": "New link",
    "retitled": "Link renamed",
    "moved": "Link moved here",
    "removed": "Link removed",
}


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


def section_label(section: SectionDiff, prefix: str = "") -> str:
    """The heading path rather than the bare title: "Roadmap" alone is ambiguous in a guide where
    every track has one. `prefix` (a document title every section shares) is left out."""
    if prefix and section.key.startswith(prefix + _SEPARATOR):
        return section.key[len(prefix) + len(_SEPARATOR) :]
    return section.key or INTRODUCTION


def shared_title(diff: GuideDiff) -> str:
    """The first heading of every section's path, when they all share one: a guide titled by
    its single "# Title" would otherwise repeat it in front of every change."""
    keys = [s.key for s in diff.sections if s.key]
    firsts = {key.split(_SEPARATOR, 1)[0] for key in keys}
    nested = any(_SEPARATOR in key for key in keys)
    return firsts.pop() if len(keys) > 1 and len(firsts) == 1 and nested else ""


def more_line(hidden: int) -> str:
    return f"{hidden} more change{'' if hidden == 1 else 's'}: see them on the web"


# --------------------------------------------------------------------------------------------
# The plan: which items each renderer shows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShownSection:
    section: SectionDiff
    label: str  # its heading path, without the title all sections share
    anchor: str
    headline: bool  # the "removed" / "moved" line, which counts as one item
    paragraphs: tuple[ParagraphChange, ...]
    links: tuple[LinkChange, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    sections: tuple[ShownSection, ...]
    prefix: str  # the document title left out of labels (shared_title)
    total: int  # items in the whole diff
    hidden: int  # items left out by the limit


def _listed_links(section: SectionDiff) -> list[LinkChange]:
    order = {kind: n for n, kind in enumerate(_LINK_ORDER)}
    listed = [link for link in section.links if not link.in_paragraph]
    return sorted(listed, key=lambda link: order.get(link.kind, len(order)))


def _anchors(labels: Iterable[str]) -> list[str]:
    anchors, seen = [], set()
    for label in labels:
        base = "change-" + slugify_heading(label)
        anchor, n = base, 1
        while anchor in seen:
            n += 1
            anchor = f"{base}-{n}"
        seen.add(anchor)
        anchors.append(anchor)
    return anchors


def plan(diff: GuideDiff, limit: int | None = None) -> Plan:
    """Which sections and items to show under `limit` (None: all), cut at whole items.

    An item is a paragraph shown, a link listed, or the one line of a removed or moved section.
    A section heading is never shown without at least one of its items.
    """
    if limit is not None and limit < 0:
        raise ValueError("limit must be None or >= 0")
    units = []
    for section in diff.sections:
        paragraphs = () if section.status == REMOVED else section.paragraphs
        links = [] if section.status == REMOVED else _listed_links(section)
        headline = section.status in (REMOVED, MOVED)  # one line, one item
        units.append((section, headline, paragraphs, links))
    total = sum(int(h) + len(p) + len(ln) for _, h, p, ln in units)
    prefix = shared_title(diff)
    labels = [section_label(section, prefix) for section in diff.sections]
    budget = total if limit is None else min(limit, total)
    shown: list[ShownSection] = []
    used, cut = 0, False
    for (section, headline, paragraphs, links), label, anchor in zip(
        units, labels, _anchors(labels), strict=True
    ):
        items = int(headline) + len(paragraphs) + len(links)
        if not items:
            # A new section that is a heading alone: shown, for free, unless the cut came first.
            if section.status == ADDED and not cut:
                shown.append(ShownSection(section, label, anchor, False, (), ()))
            continue
        room = budget - used - int(headline)
        if room < 0 or used >= budget:
            break
        kept_paragraphs = tuple(paragraphs[:room])
        kept_links = tuple(links[: room - len(kept_paragraphs)])
        used += int(headline) + len(kept_paragraphs) + len(kept_links)
        cut = len(kept_paragraphs) + len(kept_links) < len(paragraphs) + len(links)
        shown.append(ShownSection(section, label, anchor, headline, kept_paragraphs, kept_links))
    return Plan(sections=tuple(shown), prefix=prefix, total=total, hidden=total - used)


# --------------------------------------------------------------------------------------------
# Trimming: long unchanged text is elided, changes and links never are
# --------------------------------------------------------------------------------------------


def _cut_head(text: str, width: int) -> str:
    """The first `width` characters of `text`, at a word, then an ellipsis."""
    if len(text) <= width:
        return text
    cut = text[:width]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip() + _ELLIPSIS + " "


def _cut_tail(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    cut = text[-width:]
    space = cut.find(" ")
    return " " + _ELLIPSIS + (cut[space:] if 0 <= space < width // 2 else cut).lstrip()


def _trim(change: ParagraphChange) -> list[Span]:
    """The spans of `change` with long plain runs shortened.

    Only runs that are not a link and, in a changed paragraph, not a change are shortened: the
    words that changed and every link are what the reader came for.
    """
    spans = list(change.spans)
    if change.code:
        return _trim_code(spans)
    whole = change.status != CHANGED
    if whole:
        width = PARAGRAPH_CHARS if change.status == ADDED else PARAGRAPH_CHARS // 2
        left = max(width - sum(len(s.text) for s in spans if s.href is not None), 40)
        out, elided = [], False
        for span in spans:
            if span.href is None:
                if left <= 0:
                    if not elided:
                        out.append(Span(span.op, _ELLIPSIS + " ", None))
                        elided = True
                    continue
                text = _cut_head(span.text, left)
                left -= len(span.text)
                elided = text != span.text
                span = Span(span.op, text, None)
            out.append(span)
        return out
    out = []
    last = len(spans) - 1
    for i, span in enumerate(spans):
        if span.op == "=" and span.href is None and len(span.text) > CONTEXT_CHARS:
            if i == 0:
                text = _cut_tail(span.text, CONTEXT_CHARS).lstrip()
            elif i == last:
                text = _cut_head(span.text, CONTEXT_CHARS)
            elif len(span.text) > 2 * CONTEXT_CHARS + 10:
                text = (
                    _cut_head(span.text, CONTEXT_CHARS)
                    + _cut_tail(span.text, CONTEXT_CHARS)[len(_ELLIPSIS) + 1 :]
                )
            else:
                text = span.text
            span = Span(span.op, text, None)
        out.append(span)
    return out


def _trim_code(spans: list[Span]) -> list[Span]:
    out, lines = [], 0
    for span in spans:
        if lines >= CODE_LINES:
            out.append(Span("=", _ELLIPSIS, None))
            break
        room = CODE_LINES - lines
        parts = span.text.split("\n")
        if len(parts) - 1 >= room:
            span = Span(span.op, "\n".join(parts[: room + 1]), span.href)
        lines += span.text.count("\n")
        out.append(span)
    return out


def _short_url(url: str, width: int = 60) -> str:
    """A URL as a reader recognises it: host and path, without the scheme, shortened."""
    parts = urlsplit(url)
    shown = (parts.netloc + parts.path).rstrip("/") if parts.netloc else url
    if parts.query:
        shown += "?" + parts.query
    return shown if len(shown) <= width else shown[: width - 1] + _ELLIPSIS


def _section_origin(key: str, prefix: str) -> str:
    if prefix and key.startswith(prefix + _SEPARATOR):
        return key[len(prefix) + len(_SEPARATOR) :]
    return key or INTRODUCTION


# --------------------------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------------------------


def _runs(spans: Sequence[Span]) -> list[list[Span]]:
    """Spans grouped into runs of the same op: one deletion and one insertion read as one edit,
    whether or not a link starts inside them."""
    runs: list[list[Span]] = []
    for span in spans:
        if runs and runs[-1][0].op == span.op:
            runs[-1].append(span)
        else:
            runs.append([span])
    return runs


def _text_spans(spans: Sequence[Span], *, marks: bool, new_urls: frozenset[str]) -> str:
    """Spans as text: `[-old-]{+new+}` when `marks`; a new link's URL follows its text once.

    Only new links (`new_urls`) get their URL: the HTML part links the others, a renamed link's
    URL is no news, and a removed URL must not be clickable anywhere.
    """
    out: list[str] = []
    shown: set[str] = set()

    def url_after(span: Span, following: Span | None) -> None:
        href = span.href
        if span.op == DELETE or not href or href not in new_urls or href in shown:
            return
        if following is not None and following.href == href and following.op != DELETE:
            return  # the link's text goes on
        if is_safe_url(href):
            out.append(f" <{href}>")
            shown.add(href)

    if not marks:  # a new paragraph: each new link's URL right after its text
        for i, span in enumerate(spans):
            out.append(span.text)
            url_after(span, spans[i + 1] if i + 1 < len(spans) else None)
        return "".join(out)
    for run in _runs(spans):
        op = run[0].op
        text = "".join(span.text for span in run)
        if op == INSERT:
            text = "{+" + text + "+}"
        elif op == DELETE:
            text = "[-" + text + "-]"
        out.append(text)
        for span in run:
            url_after(span, None)
    return "".join(out)


def _new_urls(section: SectionDiff) -> frozenset[str]:
    """The URLs of the links this section shows inside their paragraphs as new."""
    return frozenset(
        link.url
        for link in section.links
        if link.in_paragraph and link.kind in ("added", "updated")
    )


def _text_paragraph(change: ParagraphChange, new_urls: frozenset[str]) -> str:
    spans = _trim(change)
    if change.status == ADDED:
        body = _text_spans(spans, marks=False, new_urls=new_urls)
        return "New paragraph:\n" + body if change.code else "New: " + body
    if change.status == REMOVED:
        body = "".join(s.text for s in spans)
        return "Removed paragraph:\n" + body if change.code else "Removed: " + body
    return _text_spans(spans, marks=True, new_urls=new_urls)


def _text_link(link: LinkChange, prefix: str) -> str:
    label = _LINK_LABELS.get(link.kind, link.kind)
    title = link.title or _short_url(link.url)
    url = f" <{link.url}>" if is_safe_url(link.url) else f" ({link.url})"
    if link.kind == "updated":
        renamed = f" (was {link.old_title})" if link.old_title else ""
        return f"{label}: {title}{renamed}{url}, was {_short_url(link.old_url)}"
    if link.kind == "retitled":
        return f"{label}: {link.old_title or _short_url(link.url)} {_ARROW} {title}{url}"
    if link.kind == "moved":
        return f"{label} from {_section_origin(link.old_section, prefix)}: {title}{url}"
    if link.kind == "removed":
        return f"{label}: {title}"
    return f"{label}: {title}{url}"


def _text_heading(shown: ShownSection, prefix: str) -> str:
    section = shown.section
    label = shown.label
    if section.status == REMOVED:
        return f"## Section {label} removed: {_removed_counts(section)}"
    if section.status == ADDED:
        return f"## New section: {label}"
    if section.status == MOVED:
        return f"## {label} (moved from {_section_origin(section.old_key, prefix)})"
    return f"## {label}"


def render_text(diff: GuideDiff, *, limit: int | None = None, more_url: str = "") -> str:
    """The diff as plain text for the text/plain part of an e-mail: the same items as
    render_html, in the same order. Lines are not wrapped (mail clients do it)."""
    if diff.is_empty:
        return NO_CHANGES + "\n"
    shown = plan(diff, limit)
    blocks: list[str] = []
    for entry in shown.sections:
        lines = [_text_heading(entry, shown.prefix)]
        new_urls = _new_urls(entry.section)
        lines.extend(_text_paragraph(p, new_urls) for p in entry.paragraphs)
        lines.extend(_text_link(link, shown.prefix) for link in entry.links)
        blocks.append("\n\n".join(lines))
    if shown.hidden:
        blocks.append(more_line(shown.hidden) + (f": {more_url}" if more_url else ""))
    return "\n\n".join(blocks) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _removed_counts(section: SectionDiff) -> str:
    """What a removed section took with it, e.g. "12 links, 3 paragraphs"; a zero is left out."""
    parts = [
        _count(n, noun)
        for n, noun in (
            (section.removed_link_count, "link"),
            (section.removed_paragraph_count, "paragraph"),
        )
        if n
    ]
    return ", ".join(parts) or "empty"


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def _html_text(text: str, *, code: bool) -> str:
    text = escape(text)
    return text if code else text.replace("\n", "<br>")


def _html_span(span: Span, *, code: bool) -> str:
    text = _html_text(span.text, code=code)
    if not span.href or span.op == DELETE:
        return text
    if is_safe_url(span.href):
        return f'<a href="{escape(span.href, quote=True)}" rel="noopener">{text}</a>'
    # Never an href: shown inert, so an editor can spot and fix it.
    return f'{text} <code class="diff-url">{escape(span.href)}</code>'


def _html_spans(spans: Sequence[Span], *, status: str, code: bool) -> str:
    out: list[str] = []
    for run in _runs(spans):
        op = run[0].op
        if op == INSERT and status != CHANGED:
            # A new paragraph is marked as a whole; inside it only its links stand out.
            out.extend(
                f'<ins class="diff-new-link">{_html_span(s, code=code)}</ins>'
                if s.href
                else _html_span(s, code=code)
                for s in run
            )
            continue
        inner = "".join(_html_span(s, code=code) for s in run)
        if op == INSERT:
            css = ' class="diff-new-link"' if all(s.href for s in run) else ""
            out.append(f"<ins{css}>{inner}</ins>")
        elif op == DELETE and status == CHANGED:
            out.append(f"<del>{inner}</del>")
        else:
            out.append(inner)
    return "".join(out)


def _html_paragraph(change: ParagraphChange) -> str:
    spans = _trim(change)
    body = _html_spans(spans, status=change.status, code=change.code)
    if change.status == ADDED:
        tag = '<span class="diff-tag diff-tag-added">New</span> '
    elif change.status == REMOVED:
        tag = '<span class="diff-tag diff-tag-removed">Removed</span> '
        body = f"<del>{body}</del>"
    else:
        tag = ""
    css = f"diff-p diff-p-{escape(change.status, quote=True)}"
    if change.code:
        return f'<div class="{css}">{tag}<pre class="diff-code">{body}</pre></div>'
    return f'<p class="{css}">{tag}{body}</p>'


def _html_link(title: str, url: str) -> str:
    text = escape(title or _short_url(url))
    if is_safe_url(url):
        return f'<a href="{escape(url, quote=True)}" rel="noopener">{text}</a>'
    return f'{text} <code class="diff-url">{escape(url)}</code>'


def _html_struck_url(url: str) -> str:
    return f'<del class="diff-old-url">{escape(_short_url(url))}</del>'


def _html_link_item(link: LinkChange, prefix: str) -> str:
    label = f'<span class="diff-label">{_LINK_LABELS.get(link.kind, escape(link.kind))}</span> '
    if link.kind == "updated":
        renamed = (
            f'<del class="diff-old-title">{escape(link.old_title)}</del> ' if link.old_title else ""
        )
        new = _html_link(_short_url(link.url), link.url)
        title = escape(link.title or _short_url(link.url))
        return f"{label}{renamed}{title}: {_html_struck_url(link.old_url)} {_ARROW} {new}"
    if link.kind == "retitled":
        old = f'<del class="diff-old-title">{escape(link.old_title or _short_url(link.url))}</del>'
        return f"{label}{old} {_ARROW} {_html_link(link.title, link.url)}"
    if link.kind == "moved":
        origin = escape(_section_origin(link.old_section, prefix))
        return f'{label}{_html_link(link.title, link.url)} <span class="diff-muted">from {origin}</span>'
    if link.kind == "removed":
        return f'{label}<del class="diff-removed-link">{escape(link.title or _short_url(link.url))}</del>'
    return f'{label}<ins class="diff-new-link">{_html_link(link.title, link.url)}</ins>'


def _html_heading(entry: ShownSection, prefix: str) -> str:
    section = entry.section
    label = escape(entry.label)
    status = section.status
    if status == REMOVED:
        counts = _removed_counts(section)
        return (
            f'<h3 class="diff-heading"><span class="diff-tag diff-tag-removed">Removed</span> '
            f'{label}<span class="diff-count"> · {counts}</span></h3>'
        )
    if status == ADDED:
        return f'<h3 class="diff-heading"><span class="diff-tag diff-tag-added">New</span> {label}</h3>'
    if status == MOVED:
        origin = escape(_section_origin(section.old_key, prefix))
        return (
            f'<h3 class="diff-heading"><span class="diff-tag diff-tag-moved">Moved</span> '
            f'{label}<span class="diff-count"> · from {origin}</span></h3>'
        )
    return f'<h3 class="diff-heading">{label}</h3>'


def render_html(
    diff: GuideDiff,
    *,
    limit: int | None = None,
    more_url: str = "",
    navigation: bool = False,
    context: Mapping[str, str] | None = None,
) -> str:
    """The diff as an HTML fragment for a web page or an e-mail body.

    Each section has an id (its anchor). `navigation` (the compare page) adds a "Next change"
    link from each section to the next one, which works without JavaScript; `context` maps a
    section key to already safe HTML of that section as it reads now, shown collapsed under it.
    Every piece of text is escaped and unsafe URLs are shown as text, so the result is safe.
    """
    if diff.is_empty:
        return f'<div class="diff diff-empty" id="changes"><p class="diff-none">{NO_CHANGES}</p></div>\n'
    shown = plan(diff, limit)
    context = context or {}
    out = ['<div class="diff" id="changes">']
    for n, entry in enumerate(shown.sections):
        status = escape(entry.section.status, quote=True)
        out.append(f'<div class="diff-section diff-{status}" id="{entry.anchor}">')
        out.append(_html_heading(entry, shown.prefix))
        out.extend(_html_paragraph(p) for p in entry.paragraphs)
        if entry.links:
            out.append('<ul class="diff-links">')
            for link in entry.links:
                kind = escape(link.kind, quote=True)
                out.append(
                    f'<li class="diff-link-{kind}">{_html_link_item(link, shown.prefix)}</li>'
                )
            out.append("</ul>")
        around = context.get(entry.section.key)
        if around and entry.section.status != REMOVED:
            out.append(
                '<details class="diff-context"><summary>The whole section as it reads now'
                f'</summary><div class="diff-context-body">{around}</div></details>'
            )
        if navigation:
            following = shown.sections[n + 1].anchor if n + 1 < len(shown.sections) else ""
            target, words = (
                (following, "Next change \N{DOWNWARDS ARROW}")
                if following
                else ("changes", "Back to the first change \N{UPWARDS ARROW}")
            )
            out.append(f'<p class="diff-nav"><a href="#{target}">{words}</a></p>')
        out.append("</div>")
    if shown.hidden:
        line = escape(more_line(shown.hidden))
        if more_url and is_safe_url(more_url):
            line = f'<a href="{escape(more_url, quote=True)}">{line}</a>'
        out.append(f'<p class="diff-more">{line}</p>')
    out.append("</div>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Unchanged context for the compare page
# --------------------------------------------------------------------------------------------

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def section_sources(markdown: str) -> dict[str, str]:
    """Each section's Markdown source by its heading-path key ("" = the introduction).

    A line scan (ATX headings outside fenced code), cheap enough for a page view; keys follow the
    diff's rule (titles joined by its separator, a repeated path numbered " (2)"). A setext
    heading is not split out: its text stays in the section before, which only widens that
    context.
    """
    from guide.markdown import inline_to_text

    sections: dict[str, list[str]] = {"": []}
    path: list[tuple[int, str]] = []
    key, fence = "", ""
    for line in markdown.splitlines():
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
        elif opened:
            fence = opened.group(1)
        elif heading := _HEADING.match(line):
            level = len(heading.group(1))
            title = inline_to_text(heading.group(2) or "").strip() or "(untitled)"
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, title))
            base = _SEPARATOR.join(t for _, t in path)
            key, n = base, 1
            while key in sections:
                n += 1
                key = f"{base} ({n})"
            sections[key] = []
            continue
        sections[key].append(line)
    return {k: "\n".join(lines).strip() for k, lines in sections.items()}


def section_context(
    diff: GuideDiff, markdown: str, render: Callable[[str], str], *, limit: int = 200
) -> dict[str, str]:
    """HTML of each changed section as it reads in `markdown`, for render_html(context=...).

    Only sections whose paragraphs changed get one, at most `limit` of them, so a sweeping
    release does not render the whole guide twice.
    """
    sources = section_sources(markdown)
    out: dict[str, str] = {}
    for section in diff.sections:
        if len(out) >= limit:
            break
        if section.paragraphs and section.status in (CHANGED, MOVED) and sources.get(section.key):
            out[section.key] = str(render(sources[section.key]))
    return out
