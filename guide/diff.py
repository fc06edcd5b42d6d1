"""Structural diff of two versions of a Markdown guide.

Subscribers are not told "line 812 changed": they are told which sections of the guide were added,
removed or changed, which links appeared, disappeared, were retitled or moved, and which
paragraphs were added or removed. That needs the document's structure, so both texts are parsed
with markdown-it-py (the CommonMark parser the site renders with) and the diff is computed
on the parse, never on raw lines: re-wrapping a paragraph, or switching a link between inline and
reference style, is then not a change.

This module is pure Python with no Django import, so it can run in a worker, a management command
or a test without settings. What it returns is immutable (frozen dataclasses and tuples; the one
dict, ParsedGuide.links, is read-only by convention) and a GuideDiff exports to JSON.

Cost: parsing dominates. markdown-it-py takes ~1.3 s per version of a 10,000-link guide, most
of it per link, so parses are memoised and diff_guides also accepts ParsedGuide (which
pickles) for callers that keep one per version. The diff itself is linear in links and sections
(dicts keyed by URL and section key) plus one SequenceMatcher per changed section: ~20 ms for
that guide. See bench/diff_bench.py.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = [
    "INTRO_TITLE",
    "SECTION_SEPARATOR",
    "GuideDiff",
    "Link",
    "MovedLink",
    "ParsedGuide",
    "ParsedSection",
    "RetitledLink",
    "SectionDiff",
    "clear_parse_cache",
    "diff_guides",
    "parse_guide",
]

# Built once: constructing a MarkdownIt compiles its rule chains, which is not free.
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])

# Joins the titles of a heading path, e.g. "Beginner track", "Roadmap". Typographic so that it
# is unlikely in a heading (a collision is still made unique by the duplicate-key suffix).
SECTION_SEPARATOR = " \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "
INTRO_TITLE = "(introduction)"
# A heading with no text ("##" alone) still opens a section; it needs a visible, non-empty title
# so that its key can never be "" (reserved for the introduction).
UNTITLED = "(untitled)"

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
_STATUSES = (ADDED, REMOVED, CHANGED)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    title: str
    section: str  # section key where it appears


@dataclass(frozen=True, slots=True)
class RetitledLink:
    url: str
    old_title: str
    new_title: str
    section: str  # key in the new document


@dataclass(frozen=True, slots=True)
class MovedLink:
    url: str
    title: str  # the title in the new document
    old_section: str
    new_section: str


@dataclass(frozen=True, slots=True)
class SectionDiff:
    key: str
    title: str  # heading text (new doc's, or old doc's for a removed section)
    level: int  # heading level 0-6 (0 = introduction)
    status: str  # "added" | "removed" | "changed"
    links_added: tuple[Link, ...] = ()
    links_removed: tuple[Link, ...] = ()
    links_retitled: tuple[RetitledLink, ...] = ()
    links_moved_in: tuple[MovedLink, ...] = ()
    paragraphs_added: tuple[str, ...] = ()
    paragraphs_removed: tuple[str, ...] = ()

    @property
    def item_count(self) -> int:
        """Links and paragraphs this section reports; what a renderer's `limit` counts."""
        return (
            len(self.links_added)
            + len(self.links_removed)
            + len(self.links_retitled)
            + len(self.links_moved_in)
            + len(self.paragraphs_added)
            + len(self.paragraphs_removed)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "level": self.level,
            "status": self.status,
            "links_added": [_link_dict(link) for link in self.links_added],
            "links_removed": [_link_dict(link) for link in self.links_removed],
            "links_retitled": [
                {
                    "url": r.url,
                    "old_title": r.old_title,
                    "new_title": r.new_title,
                    "section": r.section,
                }
                for r in self.links_retitled
            ],
            "links_moved_in": [
                {
                    "url": m.url,
                    "title": m.title,
                    "old_section": m.old_section,
                    "new_section": m.new_section,
                }
                for m in self.links_moved_in
            ],
            "paragraphs_added": list(self.paragraphs_added),
            "paragraphs_removed": list(self.paragraphs_removed),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SectionDiff:
        if data["status"] not in _STATUSES:
            raise ValueError(f"unknown section status {data['status']!r}")
        return cls(
            key=data["key"],
            title=data["title"],
            level=int(data["level"]),
            status=data["status"],
            links_added=tuple(Link(**d) for d in data.get("links_added", ())),
            links_removed=tuple(Link(**d) for d in data.get("links_removed", ())),
            links_retitled=tuple(RetitledLink(**d) for d in data.get("links_retitled", ())),
            links_moved_in=tuple(MovedLink(**d) for d in data.get("links_moved_in", ())),
            paragraphs_added=tuple(data.get("paragraphs_added", ())),
            paragraphs_removed=tuple(data.get("paragraphs_removed", ())),
        )


def _link_dict(link: Link) -> dict[str, str]:
    return {"url": link.url, "title": link.title, "section": link.section}


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


@dataclass(frozen=True, slots=True)
class GuideDiff:
    """What changed between two versions, grouped by section.

    `sections` holds only sections with some change, in new-document order; a removed section is
    placed right after the surviving section that preceded it in the old document, so a reader
    sees it roughly where it used to be.
    """

    sections: tuple[SectionDiff, ...] = ()

    @property
    def links_added(self) -> tuple[Link, ...]:
        return tuple(link for s in self.sections for link in s.links_added)

    @property
    def links_removed(self) -> tuple[Link, ...]:
        return tuple(link for s in self.sections for link in s.links_removed)

    @property
    def links_retitled(self) -> tuple[RetitledLink, ...]:
        return tuple(link for s in self.sections for link in s.links_retitled)

    @property
    def links_moved(self) -> tuple[MovedLink, ...]:
        return tuple(link for s in self.sections for link in s.links_moved_in)

    @property
    def sections_added(self) -> tuple[SectionDiff, ...]:
        return tuple(s for s in self.sections if s.status == ADDED)

    @property
    def sections_removed(self) -> tuple[SectionDiff, ...]:
        return tuple(s for s in self.sections if s.status == REMOVED)

    @property
    def sections_changed(self) -> tuple[SectionDiff, ...]:
        return tuple(s for s in self.sections if s.status == CHANGED)

    @property
    def is_empty(self) -> bool:
        return not self.sections

    @property
    def item_count(self) -> int:
        """Links added+removed+retitled+moved plus paragraphs added+removed.

        A link both moved and retitled counts twice: it is shown twice. Callers compare this with
        a renderer's `limit` to know whether the rendering was cut.
        """
        return sum(s.item_count for s in self.sections)

    def summary(self) -> str:
        """One line for a subject or a preview, e.g. "2 sections changed, 12 new links"."""
        counts = (
            (len(self.sections_added), "section added", "sections added"),
            (len(self.sections_removed), "section removed", "sections removed"),
            (len(self.sections_changed), "section changed", "sections changed"),
            (len(self.links_added), "new link", "new links"),
            (len(self.links_removed), "link removed", "links removed"),
            (len(self.links_retitled), "link retitled", "links retitled"),
            (len(self.links_moved), "link moved", "links moved"),
        )
        parts = [_plural(n, one, many) for n, one, many in counts if n]
        # Every reported section has a status, so a non-empty diff always has a part.
        return ", ".join(parts) if parts else "No changes"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (lists and strings only); `from_dict` reverses it."""
        return {
            "summary": self.summary(),
            "item_count": self.item_count,
            "sections": [s.to_dict() for s in self.sections],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GuideDiff:
        """Rebuild a diff stored with `to_dict` (derived fields such as "summary" are ignored)."""
        return cls(tuple(SectionDiff.from_dict(s) for s in data.get("sections", ())))


@dataclass(frozen=True, slots=True)
class ParsedSection:
    key: str  # heading path, unique within the document ("" for the introduction)
    title: str
    level: int
    links: tuple[Link, ...]  # distinct URLs in this section, first occurrence in the section
    blocks: tuple[str, ...]  # display text of each block
    # What blocks are compared on: the display text plus the link/image URLs (and raw HTML) the
    # text hides, so a changed href changes the section although its visible text did not.
    block_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParsedGuide:
    sections: tuple[ParsedSection, ...]
    # url -> first occurrence in the document, in document order. A plain dict so that a
    # ParsedGuide pickles (to persist or cache it per version); parses are shared through the
    # parse cache, so treat it as read-only.
    links: dict[str, Link] = field(hash=False)

    @property
    def urls(self) -> frozenset[str]:
        return frozenset(self.links)

    @property
    def section_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.sections)


_EMPTY_GUIDE = ParsedGuide(sections=(), links={})


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _plain_parts(children: Iterable[Token], parts: list[str]) -> None:
    """Append the plain text of inline tokens (used for image alt text; no link bookkeeping)."""
    for tok in children:
        kind = tok.type
        if kind in ("text", "text_special", "code_inline"):
            parts.append(tok.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif kind == "image" and tok.children:
            _plain_parts(tok.children, parts)


def _walk_inline(children: Sequence[Token]) -> tuple[str, list[tuple[str, str]], list[str]]:
    """Plain text, links (href, title) and hidden identity parts of one inline token.

    Inline markup is dropped (emphasis, code spans keep their text); breaks become spaces so that
    re-wrapping is invisible once whitespace is collapsed. Images contribute their alt text but
    are not links. Raw inline HTML is not text, but it is part of the block's identity.
    """
    parts: list[str] = []
    links: list[tuple[str, str]] = []
    hidden: list[str] = []
    href: str | None = None
    start = 0
    for tok in children:
        kind = tok.type
        if kind in ("text", "text_special", "code_inline"):
            parts.append(tok.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif kind == "link_open":
            href = str(tok.attrs.get("href", ""))
            start = len(parts)
            hidden.append(href)
        elif kind == "link_close":
            if href is not None:
                links.append((href, _collapse("".join(parts[start:]))))
                href = None
        elif kind == "image":
            hidden.append("img:" + str(tok.attrs.get("src", "")))
            if tok.children:
                _plain_parts(tok.children, parts)
        elif kind == "html_inline":
            hidden.append(_collapse(tok.content))  # re-wrapping inside a tag is no change either
    return _collapse("".join(parts)), links, hidden


class _Builder:
    """Accumulates sections while walking the token stream once."""

    def __init__(self) -> None:
        self.sections: list[ParsedSection] = []
        self.links: dict[str, Link] = {}
        self.seen_keys: set[str] = {""}
        # (level, title) of the enclosing headings, outermost first.
        self.path: list[tuple[int, str]] = []
        self.key = ""
        self.title = INTRO_TITLE
        self.level = 0
        self.section_links: dict[str, Link] = {}
        self.blocks: list[str] = []
        self.block_keys: list[str] = []

    def flush(self) -> None:
        # The introduction only exists if there is something before the first heading; an
        # empty one would show up as "added" in every first-version diff.
        if self.level == 0 and not self.blocks and not self.section_links:
            return
        self.sections.append(
            ParsedSection(
                key=self.key,
                title=self.title,
                level=self.level,
                links=tuple(self.section_links.values()),
                blocks=tuple(self.blocks),
                block_keys=tuple(self.block_keys),
            )
        )

    def heading(self, level: int, title: str) -> None:
        self.flush()
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        self.path.append((level, title))
        base = SECTION_SEPARATOR.join(t for _, t in self.path)
        key, n = base, 1
        while key in self.seen_keys:
            n += 1
            key = f"{base} ({n})"
        self.seen_keys.add(key)
        self.key, self.title, self.level = key, title, level
        self.section_links = {}
        self.blocks = []
        self.block_keys = []

    def add_links(self, links: Iterable[tuple[str, str]]) -> None:
        for url, title in links:
            if url in self.section_links:
                continue
            link = Link(url=url, title=title, section=self.key)
            self.section_links[url] = link
            self.links.setdefault(url, link)

    def add_block(self, text: str, hidden: Sequence[str] = ()) -> None:
        self.blocks.append(text)
        # "\x1f" (unit separator) counts as whitespace for str.split, so collapsed text never
        # holds one and neither does a normalised URL: the joined identity is unambiguous.
        self.block_keys.append("\x1f".join((text, *hidden)) if hidden else text)


def _parse(markdown: str) -> ParsedGuide:
    tokens = _MD.parse(markdown)
    b = _Builder()
    row: list[str] | None = None  # cells of the table row being read
    row_hidden: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        kind = tok.type
        # Only top-level headings split the guide into sections: a "#" line inside a quote or a
        # list item is part of that quote or item, which continues after it.
        if kind == "heading_open" and tok.level == 0:
            inline = tokens[i + 1]
            text, links, _ = _walk_inline(inline.children or ())
            b.heading(int(tok.tag[1]), text or UNTITLED)
            b.add_links(links)
            i += 3  # heading_open, inline, heading_close
            continue
        if kind == "inline":
            text, links, hidden = _walk_inline(tok.children or ())
            b.add_links(links)
            if row is not None:
                row.append(text)
                row_hidden.extend(hidden)
            else:  # a paragraph, wherever it sits (list item, quote), or a nested heading
                b.add_block(text, hidden)
        elif kind == "tr_open":
            row, row_hidden = [], []
        elif kind == "tr_close" and row is not None:
            b.add_block(" | ".join(row), row_hidden)
            row = None
        elif kind in ("fence", "code_block"):
            # Code is whitespace-sensitive: keep it as written (minus the final newline), and
            # let the language of a fence count too.
            code = tok.content.rstrip("\n")
            b.add_block(code, (f"lang:{tok.info.strip()}",) if tok.info.strip() else ())
        elif kind == "html_block":
            b.add_block(_collapse(tok.content))
        i += 1
    b.flush()
    return ParsedGuide(sections=tuple(b.sections), links=b.links)


# Parses are memoised: the same two versions are typically diffed several times in a row (admin
# preview, e-mail, compare page), parsing is the expensive part, and a ParsedGuide is immutable
# so sharing one is safe. A handful of entries bounds memory to a few megabytes each.
@lru_cache(maxsize=8)
def _parse_cached(markdown: str) -> ParsedGuide:
    return _parse(markdown)


def parse_guide(markdown: str) -> ParsedGuide:
    """Parse a guide into sections, links and blocks (memoised on the text)."""
    if not isinstance(markdown, str):
        raise TypeError(f"parse_guide expects str, not {type(markdown).__name__}")
    return _parse_cached(markdown)


def clear_parse_cache() -> None:
    """Forget memoised parses (benchmarks measure cold parses; tests may want isolation)."""
    _parse_cached.cache_clear()


# --------------------------------------------------------------------------------------------
# Diff
# --------------------------------------------------------------------------------------------


def _as_parsed(doc: str | ParsedGuide, name: str) -> ParsedGuide:
    if isinstance(doc, ParsedGuide):
        return doc
    if isinstance(doc, str):
        return parse_guide(doc)
    raise TypeError(f"{name} must be str or ParsedGuide, not {type(doc).__name__}")


def _paragraph_changes(
    old: ParsedSection, new: ParsedSection
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(added, removed) block texts, aligned on the comparison keys."""
    if old.block_keys == new.block_keys:
        return (), ()
    # autojunk would treat frequent blocks (e.g. repeated "See also") as junk and mis-align.
    matcher = difflib.SequenceMatcher(None, old.block_keys, new.block_keys, autojunk=False)
    added: list[str] = []
    removed: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("replace", "delete"):
            removed.extend(old.blocks[i1:i2])
        if op in ("replace", "insert"):
            added.extend(new.blocks[j1:j2])
    return tuple(added), tuple(removed)


def diff_guides(old: str | ParsedGuide | None, new: str | ParsedGuide) -> GuideDiff:
    """The structural changes from `old` to `new` (`old=None` for a guide's first version).

    Link identity is the URL: a link is added/removed iff its URL is absent from the whole other
    document, so moving a link between sections is reported as a move, not as a removal plus an
    addition. Links are attributed to the section of their first occurrence.
    """
    if isinstance(old, str) and isinstance(new, str) and old == new:
        return GuideDiff()  # the common "republished without content change" case, for free
    new_doc = _as_parsed(new, "new")
    old_doc = _EMPTY_GUIDE if old is None else _as_parsed(old, "old")

    # Link changes, bucketed by the section they are reported in. Iterating the url -> Link
    # dicts keeps document order inside each bucket.
    added: defaultdict[str, list[Link]] = defaultdict(list)
    removed: defaultdict[str, list[Link]] = defaultdict(list)
    retitled: defaultdict[str, list[RetitledLink]] = defaultdict(list)
    moved: defaultdict[str, list[MovedLink]] = defaultdict(list)
    old_links = old_doc.links
    new_links = new_doc.links
    for url, link in new_links.items():
        before = old_links.get(url)
        if before is None:
            added[link.section].append(link)
            continue
        if before.title != link.title:
            retitled[link.section].append(
                RetitledLink(
                    url, old_title=before.title, new_title=link.title, section=link.section
                )
            )
        if before.section != link.section:
            moved[link.section].append(
                MovedLink(
                    url, title=link.title, old_section=before.section, new_section=link.section
                )
            )
    for url, link in old_links.items():
        if url not in new_links:
            removed[link.section].append(link)

    old_sections = {s.key: s for s in old_doc.sections}
    new_keys = {s.key for s in new_doc.sections}

    def removed_section(s: ParsedSection) -> SectionDiff:
        return SectionDiff(
            key=s.key,
            title=s.title,
            level=s.level,
            status=REMOVED,
            links_removed=tuple(removed.get(s.key, ())),
            paragraphs_removed=s.blocks,
        )

    # Anchor each removed section to the closest preceding old section that survives (None: it
    # came before all of them).
    removed_after: defaultdict[str | None, list[SectionDiff]] = defaultdict(list)
    anchor: str | None = None
    for s in old_doc.sections:
        if s.key in new_keys:
            anchor = s.key
        else:
            removed_after[anchor].append(removed_section(s))

    result: list[SectionDiff] = list(removed_after.get(None, ()))
    for s in new_doc.sections:
        key = s.key
        before_section = old_sections.get(key)
        links_added = tuple(added.get(key, ()))
        links_removed = tuple(removed.get(key, ()))
        links_retitled = tuple(retitled.get(key, ()))
        links_moved_in = tuple(moved.get(key, ()))
        if before_section is None:
            result.append(
                SectionDiff(
                    key=key,
                    title=s.title,
                    level=s.level,
                    status=ADDED,
                    links_added=links_added,
                    links_retitled=links_retitled,
                    links_moved_in=links_moved_in,
                    paragraphs_added=s.blocks,
                )
            )
        else:
            paragraphs_added, paragraphs_removed = _paragraph_changes(before_section, s)
            if (
                before_section.block_keys != s.block_keys
                or links_added
                or links_removed
                or links_retitled
                or links_moved_in
            ):
                result.append(
                    SectionDiff(
                        key=key,
                        title=s.title,
                        level=s.level,
                        status=CHANGED,
                        links_added=links_added,
                        links_removed=links_removed,
                        links_retitled=links_retitled,
                        links_moved_in=links_moved_in,
                        paragraphs_added=paragraphs_added,
                        paragraphs_removed=paragraphs_removed,
                    )
                )
        result.extend(removed_after.get(key, ()))
    return GuideDiff(tuple(result))
