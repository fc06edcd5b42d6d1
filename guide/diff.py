"""Structural diff of two versions of a Markdown guide.

Subscribers are not told "line 812 changed": they are told which sections of the guide were added,
removed or changed, which links appeared, disappeared, were retitled or moved, and which
paragraphs were added or removed. That needs the document's structure, so both texts are parsed
and the diff is computed on the parse, never on raw lines: re-wrapping a paragraph, or switching a
link between inline and reference style, is then not a change.

This module is pure Python with no Django import, so it can run in a worker, a management command
or a test without settings. What it returns is immutable (frozen dataclasses and tuples; the one
dict, ParsedGuide.links, is read-only by convention) and a GuideDiff exports to JSON.

Parsing: the reading that counts is markdown-it-py's, the CommonMark parser the site renders with
(guide.markdown), with the same table and strikethrough rules. But markdown-it-py is pure Python
and takes ~1.3 s per version of a 10,000-link guide, most of it per link, where the requirement is
a cold diff of two such texts in well under a second. So the parse comes from markdown-it-pyrs,
the Rust port of markdown-it by the same organisation (~0.15 s for that guide, plus ~0.1 s to
read its tree here). Both follow CommonMark, but they are not the same version of it: the tree is
read so as to give exactly markdown-it-py's result, undoing the known differences (how URLs are
normalised, how autolinks are shown) and, where the result could differ and cannot be derived
(an IDN host, a symbol touching "*", a table with odd lines, a tab in a quote... see "Parsing with
markdown-it-pyrs" below), parsing that one document with markdown-it-py instead. A typical guide
never needs that; tests check the two readings against each other.

Cost: parsing still dominates, so parses are memoised and diff_guides also accepts ParsedGuide
(which pickles) for callers that keep one per version. The diff itself is linear in links and
sections (dicts keyed by URL and section key) plus one SequenceMatcher per changed section: ~20 ms
for that guide. See bench/diff_bench.py.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLink, normalizeLinkText, validateLink
from markdown_it.rules_block.state_block import StateBlock
from markdown_it.rules_block.table import table as table_rule
from markdown_it.rules_inline.autolink import AUTOLINK_RE, EMAIL_RE
from markdown_it.token import Token
from markdown_it_pyrs import MarkdownIt as RustMarkdownIt
from markdown_it_pyrs import Node

__all__ = [
    "ADDED",
    "CHANGED",
    "DELETE",
    "EQUAL",
    "INSERT",
    "INTRO_TITLE",
    "MOVED",
    "REMOVED",
    "SECTION_SEPARATOR",
    "GuideDiff",
    "Link",
    "LinkChange",
    "ParagraphChange",
    "ParsedGuide",
    "ParsedSection",
    "SectionDiff",
    "Span",
    "clear_parse_cache",
    "diff_guides",
    "parse_guide",
]

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
MOVED = "moved"
_SECTION_STATUSES = (ADDED, REMOVED, CHANGED, MOVED)
_PARAGRAPH_STATUSES = (ADDED, REMOVED, CHANGED)

# Span operations: unchanged, inserted, deleted (the signs a text diff would show).
EQUAL = "="
INSERT = "+"
DELETE = "-"
_SPAN_OPS = (EQUAL, INSERT, DELETE)

# LinkChange kinds.
LINK_ADDED = "added"
LINK_REMOVED = "removed"
LINK_UPDATED = "updated"
LINK_RETITLED = "retitled"
LINK_MOVED = "moved"
_LINK_KINDS = (LINK_ADDED, LINK_REMOVED, LINK_UPDATED, LINK_RETITLED, LINK_MOVED)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    title: str
    section: str  # key of the section of its first occurrence


@dataclass(frozen=True, slots=True)
class Span:
    """A run of a block's text: unchanged ("="), inserted ("+") or deleted ("-").

    href: the link this run is (part of) the text of, or None: for "=" and "+" the link in the
    new block, for "-" the link in the old block. Adjacent runs with the same (op, href) are
    merged.
    """

    op: str
    text: str
    href: str | None = None

    def to_list(self) -> list[str]:
        return [self.op, self.text] if self.href is None else [self.op, self.text, self.href]

    @classmethod
    def from_list(cls, data: Sequence[str]) -> Span:
        if data[0] not in _SPAN_OPS:
            raise ValueError(f"unknown span op {data[0]!r}")
        return cls(data[0], data[1], data[2] if len(data) > 2 else None)


@dataclass(frozen=True, slots=True)
class ParagraphChange:
    """One block (paragraph, list item, quote paragraph, table row, code block) that changed.

    ADDED: every span is "+"; REMOVED: every span is "-"; CHANGED: a word diff of the old block
    against the new one, so old_text is the old block's display text and new_text the new one's.
    """

    status: str  # ADDED | REMOVED | CHANGED
    spans: tuple[Span, ...]
    code: bool = False  # a code block: render preformatted, keep newlines

    @property
    def old_text(self) -> str:
        return "".join(s.text for s in self.spans if s.op != INSERT)

    @property
    def new_text(self) -> str:
        return "".join(s.text for s in self.spans if s.op != DELETE)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "spans": [span.to_list() for span in self.spans],
        }
        if self.code:
            data["code"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParagraphChange:
        if data["status"] not in _PARAGRAPH_STATUSES:
            raise ValueError(f"unknown paragraph status {data['status']!r}")
        return cls(
            status=data["status"],
            spans=tuple(Span.from_list(s) for s in data["spans"]),
            code=bool(data.get("code", False)),
        )


@dataclass(frozen=True, slots=True)
class LinkChange:
    """One link that changed, reported once, in the section where it is (was, for "removed").

    - "added": a URL the old version did not have; "removed": one the new version does not have.
    - "updated": old_url gave way to url at the same place (same title in the same section, or
      the same position in a paired block); old_title is set if the title changed as well.
    - "retitled": same URL, new title (old_title).
    - "moved": same URL, first found in another section now (old_section); old_title is set if
      it was retitled too (still one item).
    in_paragraph: its change is visible inside a reported ParagraphChange of this section (a "+"
    span with href=url for added/retitled/updated, a "-" span with href=url for removed), so a
    renderer shows it there and does not list it again.
    """

    kind: str
    url: str  # the new URL ("removed": the old one)
    title: str  # the new title ("removed": the old one)
    old_url: str = ""
    old_title: str = ""
    old_section: str = ""
    in_paragraph: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "url": self.url, "title": self.title}
        for name in ("old_url", "old_title", "old_section"):
            if value := getattr(self, name):
                data[name] = value
        if self.in_paragraph:
            data["in_paragraph"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinkChange:
        if data["kind"] not in _LINK_KINDS:
            raise ValueError(f"unknown link change {data['kind']!r}")
        return cls(
            kind=data["kind"],
            url=data["url"],
            title=data["title"],
            old_url=data.get("old_url", ""),
            old_title=data.get("old_title", ""),
            old_section=data.get("old_section", ""),
            in_paragraph=bool(data.get("in_paragraph", False)),
        )


@dataclass(frozen=True, slots=True)
class SectionDiff:
    """What changed in one section (a heading and what follows it up to the next heading).

    - ADDED: paragraphs are its blocks (all "added"), links the links first found in it.
    - REMOVED: compact, nothing listed: removed_paragraph_count blocks, and removed_link_count
      links that left the guide with it (a link still elsewhere is reported "moved" there).
    - CHANGED: its paragraph and link changes.
    - MOVED: its heading path changed (old_key) but its content is (mostly) the same; its own
      edits, if any, are listed as for a changed section.
    rewritten: most of a changed (or moved) section's text changed; the summary then says
    "1 section rewritten" instead of counting its paragraphs.
    """

    key: str  # heading path: titles joined by SECTION_SEPARATOR ("" = introduction)
    title: str
    level: int  # 0 (introduction) .. 6
    status: str  # ADDED | REMOVED | CHANGED | MOVED
    paragraphs: tuple[ParagraphChange, ...] = ()
    links: tuple[LinkChange, ...] = ()
    old_key: str = ""  # MOVED: where it was
    removed_link_count: int = 0  # REMOVED only
    removed_paragraph_count: int = 0  # REMOVED only
    rewritten: bool = False

    @property
    def listed_links(self) -> tuple[LinkChange, ...]:
        """The link changes a renderer lists as items (the others show inside paragraphs)."""
        return tuple(link for link in self.links if not link.in_paragraph)

    @property
    def item_count(self) -> int:
        """What a renderer's limit counts: paragraphs shown + links listed (in_paragraph=False),
        and 1 for a removed section (it is one item) or for a moved section's move."""
        count = len(self.paragraphs) + sum(1 for link in self.links if not link.in_paragraph)
        if self.status in (REMOVED, MOVED):
            count += 1
        return count

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "title": self.title,
            "level": self.level,
            "status": self.status,
            "paragraphs": [p.to_dict() for p in self.paragraphs],
            "links": [link.to_dict() for link in self.links],
        }
        if self.old_key or self.status == MOVED:
            data["old_key"] = self.old_key
        if self.status == REMOVED:
            data["removed_link_count"] = self.removed_link_count
            data["removed_paragraph_count"] = self.removed_paragraph_count
        if self.rewritten:
            data["rewritten"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SectionDiff:
        if data["status"] not in _SECTION_STATUSES:
            raise ValueError(f"unknown section status {data['status']!r}")
        return cls(
            key=data["key"],
            title=data["title"],
            level=int(data["level"]),
            status=data["status"],
            paragraphs=tuple(ParagraphChange.from_dict(p) for p in data.get("paragraphs", ())),
            links=tuple(LinkChange.from_dict(link) for link in data.get("links", ())),
            old_key=data.get("old_key", ""),
            removed_link_count=int(data.get("removed_link_count", 0)),
            removed_paragraph_count=int(data.get("removed_paragraph_count", 0)),
            rewritten=bool(data.get("rewritten", False)),
        )


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


# (counts() key, singular, plural), in the order the summary names them.
_SUMMARY_PARTS = (
    ("sections_added", "section added", "sections added"),
    ("new_links", "new link", "new links"),
    ("links_updated", "link updated", "links updated"),
    ("paragraphs_edited", "paragraph edited", "paragraphs edited"),
    ("sections_rewritten", "section rewritten", "sections rewritten"),
    ("paragraphs_added", "paragraph added", "paragraphs added"),
    ("paragraphs_removed", "paragraph removed", "paragraphs removed"),
    ("links_retitled", "link retitled", "links retitled"),
    ("links_moved", "link moved", "links moved"),
    ("sections_moved", "section moved", "sections moved"),
    ("links_removed", "link removed", "links removed"),
    ("sections_removed", "section removed", "sections removed"),
)
_LINK_COUNT_KEYS = {
    LINK_ADDED: "new_links",
    LINK_UPDATED: "links_updated",
    LINK_REMOVED: "links_removed",
    LINK_RETITLED: "links_retitled",
    LINK_MOVED: "links_moved",
}
_PARAGRAPH_COUNT_KEYS = {
    ADDED: "paragraphs_added",
    REMOVED: "paragraphs_removed",
    CHANGED: "paragraphs_edited",
}
_SECTION_COUNT_KEYS = {
    ADDED: "sections_added",
    REMOVED: "sections_removed",
    CHANGED: "sections_changed",
    MOVED: "sections_moved",
}


@dataclass(frozen=True, slots=True)
class GuideDiff:
    """What changed between two versions, grouped by section.

    `sections` holds only sections with some change, in new-document order; a removed section is
    placed right after the surviving section that preceded it in the old document, so a reader
    sees it roughly where it used to be.
    """

    sections: tuple[SectionDiff, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.sections

    @property
    def item_count(self) -> int:
        """Items a renderer shows in full (see SectionDiff.item_count); what its limit counts."""
        return sum(s.item_count for s in self.sections)

    def counts(self) -> dict[str, int]:
        """What a reader cares about, each counted once:
        new_links, links_updated, links_removed, links_retitled, links_moved,
        sections_added, sections_removed, sections_moved, sections_changed,
        paragraphs_added, paragraphs_removed, paragraphs_edited; and sections_rewritten.

        Links are counted wherever they are (a removed section's links that left the guide count
        as links removed). Paragraphs are counted in sections that exist in both versions and
        were not rewritten: an added section's paragraphs are part of "section added", a
        rewritten one's part of "section rewritten" (sections_rewritten <= sections_changed +
        sections_moved).
        """
        counts = dict.fromkeys(
            (
                "new_links",
                "links_updated",
                "links_removed",
                "links_retitled",
                "links_moved",
                "sections_added",
                "sections_removed",
                "sections_moved",
                "sections_changed",
                "sections_rewritten",
                "paragraphs_added",
                "paragraphs_removed",
                "paragraphs_edited",
            ),
            0,
        )
        for section in self.sections:
            counts[_SECTION_COUNT_KEYS[section.status]] += 1
            for link in section.links:
                counts[_LINK_COUNT_KEYS[link.kind]] += 1
            if section.status == REMOVED:
                counts["links_removed"] += section.removed_link_count
            elif section.rewritten:
                counts["sections_rewritten"] += 1
            elif section.status != ADDED:
                for paragraph in section.paragraphs:
                    counts[_PARAGRAPH_COUNT_KEYS[paragraph.status]] += 1
        return counts

    def summary(self) -> str:
        """One line for a preheader or a page, e.g. "3 new links, 2 links updated, 1 section
        rewritten"; a URL-only sweep reads "69 links updated". Empty diff: "No changes"."""
        counts = self.counts()
        parts = [
            _plural(counts[key], one, many) for key, one, many in _SUMMARY_PARTS if counts[key]
        ]
        if not parts and self.sections:
            # Only possible for sections changed in ways no count names (none today).
            parts = [_plural(len(self.sections), "section changed", "sections changed")]
        return ", ".join(parts) if parts else "No changes"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (lists, strings, numbers); `from_dict` reverses it."""
        return {
            "summary": self.summary(),
            "counts": self.counts(),
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


class _Builder:
    """Accumulates sections while walking the parse once, in document order."""

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
        section_links = self.section_links
        for url, title in links:
            if url in section_links:
                continue
            link = Link(url, title, self.key)
            section_links[url] = link
            self.links.setdefault(url, link)

    def add_block(self, text: str, hidden: Sequence[str] = ()) -> None:
        self.blocks.append(text)
        # "\x1f" (unit separator) counts as whitespace for str.split, so collapsed text never
        # holds one and neither does a normalised URL: the joined identity is unambiguous.
        self.block_keys.append("\x1f".join((text, *hidden)) if hidden else text)

    def add_inline_block(self, inline: tuple[str, list[tuple[str, str]], list[str]]) -> None:
        """A paragraph (wherever it sits: list item, quote) or a heading that opens no section."""
        text, links, hidden = inline
        if links:
            section_links = self.section_links
            for url, title in links:  # add_links, inlined: this runs for every block
                if url not in section_links:
                    link = Link(url, title, self.key)
                    section_links[url] = link
                    self.links.setdefault(url, link)
        self.blocks.append(text)
        self.block_keys.append("\x1f".join((text, *hidden)) if hidden else text)

    def add_row(self, cells: Iterable[tuple[str, list[tuple[str, str]], list[str]]]) -> None:
        """A table row is one block: its cells' texts joined by " | "."""
        texts: list[str] = []
        hidden: list[str] = []
        for text, links, cell_hidden in cells:
            self.add_links(links)
            texts.append(text)
            hidden.extend(cell_hidden)
        self.add_block(" | ".join(texts), hidden)

    def add_code(self, content: str, info: str) -> None:
        # Code is whitespace-sensitive: keep it as written (minus the final newline), and let
        # the language of a fence count too.
        info = info.strip()
        self.add_block(content.rstrip("\n"), (f"lang:{info}",) if info else ())


# --------------------------------------------------------------------------------------------
# Parsing with markdown-it-pyrs (the fast path)
#
# Its tree is read so as to give exactly what markdown-it-py's token stream gives (read further
# down, kept as the fallback and as the tests' reference). Both parsers port markdown-it, but
# markdown-it-pyrs (markdown-it.rs 0.6) follows CommonMark 0.30 and older markdown-it rules, and
# markdown-it-py 4 follows CommonMark 0.31.2 and markdown-it 14. Where their outputs differ, this
# reading undoes the difference, or gives up where it cannot derive markdown-it-py's result:
#
# - URLs. markdown-it-pyrs only percent-encodes a destination; markdown-it-py runs it through
#   mdurl, which also trims it and may rewrite the host (punycode, odd ports). One regex on the
#   encoded URL shows that nearly every URL comes out the same; otherwise markdown-it-py's own
#   normalizeLink, applied to the encoded URL, gives its result, unless the host held characters
#   that got encoded (an IDN host) or the destination was blank at an end. See _href.
# - Autolinks. markdown-it-py shows them decoded (percent-escapes, punycode): the URL as written,
#   which the tree keeps, is decoded the same way.
# - Input. markdown-it-py turns NUL into U+FFFD, and has no line for a last line of blanks with
#   no newline: the text given to the Rust parser is normalised alike.
# - CommonMark 0.31. Unicode symbols (€, →, emoji) are punctuation next to "*", "_", "~~"; more
#   forms of HTML comments and declarations ("<!-->", "<!-- a -- b -->", "<!doctype"); <search>
#   instead of <source> among HTML block tags. Gives up where that can matter.
# - markdown-it 14. Tables: a delimiter row needs no "|", the header does, and other lines end a
#   table: a table is taken only if it sits on its own (check_tables). A lazy line that looks like
#   a list item ends a paragraph in a quote or list. A tab after quote or list markers is
#   expanded otherwise. Content is trimmed of all Unicode white space. Gives up in those cases.
# - Quirks: the Rust port pairs "~~~~" and code spans in link labels otherwise, falls back to a
#   shortcut reference in "[a][[x](/u)]", and panics on "[" followed by an unclosed code span
#   (markdown-it.rs issue #40); markdown-it-py finds a reference label after a "(" that opens no
#   inline link ("[](([a]"). Gives up in those cases (a panic is caught).
# - markdown-it-py stops reading blocks nested 20 deep. Gives up from 16.
#
# Giving up raises _Unmatched (as do a node kind not expected and text Rust cannot take, such as
# a lone surrogate), and parse_guide then parses that document with markdown-it-py: slower, same
# result. A guide made of headings, lists of links, paragraphs, quotes, code and plain tables
# never needs it. The checks were found, and are kept honest, by comparing both readings on
# generated documents (tests/test_diff_properties.py).
# --------------------------------------------------------------------------------------------


class _Unmatched(Exception):
    """The tree holds something whose markdown-it-py reading cannot be derived from it."""


class _BlockMet(Exception):
    """_read_inline met a block where a list item was hoped to hold only inline content."""


# Built once: constructing a parser compiles its rule chains, which is not free.
_RUST_MD = RustMarkdownIt("commonmark").enable_many(["table", "strikethrough"])

_CONTAINERS = frozenset({"blockquote", "bullet_list", "ordered_list", "list_item"})
_BLOCKS = _CONTAINERS | {
    "paragraph",
    "heading",
    "lheading",
    "fence",
    "code_block",
    "html_block",
    "table",
    "hr",
    "definition",
}
# Inline nodes that only wrap others (their markup is dropped).
_WRAPPERS = frozenset({"em", "strong", "strikethrough"})
# markdown-it-py stops reading blocks nested 20 deep (a quote, a list and a list item count one
# each): from a safe margin below that, the document is left to it.
_MAX_DEPTH = 16

# What mdurl (behind markdown-it-py's normalizeLink) reads as a protocol, "//" and authority
# (user, host, port). Only the authority gets rewritten, and never when it is plain ASCII labels
# with an optional port.
_URL_HEAD = re.compile(r"([a-z0-9.+-]+:)?(//)?([^/?#]*)", re.IGNORECASE)
_PLAIN_AUTHORITY = re.compile(r"(?:[+A-Za-z0-9_-]{0,63}\.)*[+A-Za-z0-9_-]{0,63}(?::[0-9]*)?")
# Both at once, on the whole URL (possessive: the protocol and "//" are taken when there).
_PLAIN_URL = re.compile(
    r"(?:[a-z0-9.+-]+:)?+(?://)?+(?:[+A-Za-z0-9_-]{0,63}\.)*[+A-Za-z0-9_-]{0,63}(?::[0-9]*)?"
    r"(?=[/?#]|\Z)",
    re.IGNORECASE | re.ASCII,
)
_plain_url = _PLAIN_URL.match
_NEWLINES = re.compile(r"\r\n?")
_EDGE_ESCAPES = re.compile(r"\A(?:%[0-9A-Fa-f]{2})+|(?:%[0-9A-Fa-f]{2})+\Z")
# A run of emphasis or strikethrough delimiters.
_DELIMITER_RUN = re.compile(r"[*_~]+")
# White space for markdown-it (isWhiteSpace): what decides, with punctuation, whether a run of
# delimiters can open or close.
_MARKDOWN_IT_SPACE = frozenset(
    "\t\n\v\f\r \xa0\u1680\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
)
# A line that could be the delimiter row of a table for markdown-it-py, once the markers of
# quotes around it are removed; and what precedes the header in a list item or a quote.
_DELIMITER_LIKE = re.compile(r"^[ \t>]*([|:-][ \t|:-]*)$", re.MULTILINE)
_CONTAINER_PREFIX = re.compile(r"^(?:[ \t>]|(?:[-+*]|[0-9]{1,9}[.)])(?=[ \t]|$))*")
# A table row that some block rule might take as the start of a block that ends the table.
_BODY_ROW_RISK = re.compile(
    r"[ \t]*(?:```|~~~|[><]|#{1,6}(?:[ \t]|$)|(?:[-+*]|[0-9]{1,9}[.)])(?:[ \t]|$)|(?:[-*_][ \t]*){3,}$)"
)
# The start of a list item, once leading blanks are gone.
_LIST_MARKER = re.compile(r"(?:[-+*]|[0-9]{1,9}[.)])(?:[ \t]|$)")

# HTML block tags of one CommonMark version and not the other.
_HTML_TAG_CHANGED = re.compile(r"[ \t]*</?(?:search|source)(?:[ \t\n/>]|\Z)", re.IGNORECASE)


def _is_symbol(char: str) -> bool:
    return bool(char) and char > "\x7f" and unicodedata.category(char)[0] == "S"


def _blank_at_ends(url: str) -> bool:
    """Whether the encoded `url` may start or end with a blank, which mdurl would trim."""
    for match in _EDGE_ESCAPES.finditer(url):
        text = unquote(match.group())
        if (match.start() == 0 and text[0].isspace()) or (
            match.end() == len(url) and text[-1].isspace()
        ):
            return True
    return False


def _href(url: str) -> str:
    """markdown-it-py's href for a link or image to which markdown-it-pyrs gives `url`.

    markdown-it-pyrs gives encode(dest), markdown-it-py encode(format(parse(dest))) with the host
    punycoded. Both encode the same characters and neither touches ":", "/", "?", "#", so if the
    protocol, "//" and authority of `url` hold no escape, dest has the very same ones: mdurl reads
    the same host from both, and the rest goes through parse and format unchanged (already
    encoded). Hence normalizeLink(url) is markdown-it-py's href, and it is `url` itself when the
    authority is plain, or when there is none (no protocol, no "//").
    """
    if "%" in url and _blank_at_ends(url):
        raise _Unmatched("a destination with blanks at its ends")
    plain = _PLAIN_URL.match(url)
    if plain is not None and plain.end() <= 255:
        return url  # the common case, in one test: the next two, as one regex
    protocol, slashes, authority = _URL_HEAD.match(url).groups()  # type: ignore[union-attr]
    if not (protocol or slashes):
        return url  # no host to read: mdurl only splits and re-joins it
    if len(authority) <= 255 and _PLAIN_AUTHORITY.fullmatch(authority):
        return url
    if "%" in authority:
        raise _Unmatched("a host with encoded characters")
    href = normalizeLink(url)
    if href != url and not validateLink(href):
        raise _Unmatched("a URL markdown-it-py refuses")
    return href


def _autolink(node: Node) -> tuple[str, str]:
    """(href, text) of an autolink as markdown-it-py makes them, from the URL as written."""
    (child,) = node.children
    source = child.meta["markup"]  # what is between "<" and ">"
    if AUTOLINK_RE.match(source):
        authority = _URL_HEAD.match(source).group(3)  # type: ignore[union-attr]
        if (
            "%" not in source
            and not source[-1].isspace()  # mdurl would trim it
            and len(authority) <= 255
            and _PLAIN_AUTHORITY.fullmatch(authority)
            and "xn--" not in authority.lower()
        ):
            return node.meta["url"], source  # nothing to encode, nothing to decode
        href = normalizeLink(source)
    elif EMAIL_RE.match(source):
        href = normalizeLink("mailto:" + source)
    else:
        raise _Unmatched("an autolink markdown-it-py does not see")
    if not validateLink(href):
        raise _Unmatched("an autolink markdown-it-py refuses")
    return href, normalizeLinkText(source)


def _check_text(content: str) -> str:
    """Give up on text that markdown-it-py may read otherwise; return it."""
    # "<!" starts an HTML comment or declaration in more ways in CommonMark 0.31 ("<!-->",
    # "<!-- a -- b -->", "<!doctype html>"): for markdown-it-py, this text may be inline HTML.
    if "<!" in content:
        raise _Unmatched("text that may be HTML for CommonMark 0.31")
    # The parsers pair runs of "~" differently ("~~a~~~~b~~").
    if "~~" in content:
        raise _Unmatched("tildes left as text")
    # After "[a](" that is no inline link, markdown-it-py looks for a reference label a little
    # further ("[](([a]" is a link to a's URL), the Rust parser does not.
    if "](" in content:
        raise _Unmatched('"](" left as text')
    return content


def _code(node: Node) -> Iterator[str]:
    """The text of a code span (code is read before HTML: no "<!" to worry about)."""
    for child in node.children:
        if child.name != "text":
            raise _Unmatched(f"{child.name!r} in a code span")
        yield child.meta["content"]


def _read_inline(
    nodes: Iterable[Node],
) -> tuple[list[str], list[tuple[str, str]], list[str], list[int]]:
    """Parts of the plain text, links (href, title), hidden identity parts and line starts.

    _walk_inline on the tree. Opening and closing a link are events, as link_open and link_close
    are there, so that a link in a link (an autolink in a link's text) reads the same. Iterative,
    with a stack of the iterators to resume: this loop runs for every inline node of the guide.
    """
    parts: list[str] = []
    links: list[tuple[str, str]] = []
    hidden: list[str] = []
    breaks: list[int] = []  # where in parts a line starts (after a line break)
    href: str | None = None
    start = 0
    link_end = -1  # len(parts) after the last link or image
    stack: list[tuple[Iterator[Node], bool]] = []  # (iterator to resume, closes a link)
    nodes = iter(nodes)
    while True:
        for node in nodes:
            name = node.name
            if name == "text":
                content: str = node.meta["content"]
                if "<!" in content or "~~" in content or "](" in content:
                    _check_text(content)
                if content[:1] in ("[", "(") and len(parts) == link_end:
                    _bracket_after_link()
                parts.append(content)
            elif name == "link":
                href = node.meta["url"]
                if "%" in href or (plain := _plain_url(href)) is None or plain.end() > 255:
                    href = _href(href)  # else it is plain: see _href
                hidden.append(href)
                children = node.children
                if len(children) == 1 and children[0].name == "text":  # the common case, inline
                    content = children[0].meta["content"]
                    if "<!" in content or "~~" in content or "](" in content:
                        _check_text(content)
                    parts.append(content)
                    links.append((href, " ".join(content.split())))
                    href = None
                    link_end = len(parts)
                    continue
                start = len(parts)
                stack.append((nodes, True))
                nodes = iter(children)
                break
            elif name == "text_special":  # an escaped character or an entity
                parts.append(node.meta["content"])
            elif name in _WRAPPERS:
                stack.append((nodes, False))
                nodes = iter(node.children)
                break
            elif name == "softbreak" or name == "hardbreak":
                parts.append(" ")
                breaks.append(len(parts))
            elif name == "code_inline":
                parts.extend(_code(node))
            elif name == "image":
                hidden.append("img:" + _href(node.meta["url"]))
                _read_plain(node.children, parts, breaks)
                link_end = len(parts)
            elif name == "autolink":
                href, text = _autolink(node)
                hidden.append(href)
                links.append((href, _collapse(text)))
                parts.append(text)
                href = None
            elif name == "html_inline":
                content = node.meta["content"]
                if _HTML_TAG_CHANGED.match(content):
                    raise _Unmatched("an HTML tag whose kind changed")
                hidden.append(_collapse(content))
            elif name in _BLOCKS and not stack:
                raise _BlockMet
            else:
                raise _Unmatched(f"inline node {name!r}")
        else:  # this level is done: resume the one above, closing a link if it opened one
            if not stack:
                return parts, links, hidden, breaks
            nodes, closes_link = stack.pop()
            if closes_link:
                link_end = len(parts)
                if href is not None:
                    links.append((href, _collapse("".join(parts[start:]))))
                    href = None


def _bracket_after_link() -> None:
    # "[a][[x](/v)]": markdown-it-py reads "[[x](/v)]" as the label of a full reference (which
    # then fails); the Rust parser falls back to the shortcut reference "[a]". And "[a](([b]"
    # is a link to b's URL for markdown-it-py (see _check_text), "[a]" then text for the other.
    raise _Unmatched('"[" or "(" right after a link')


def _read_plain(nodes: Iterable[Node], parts: list[str], breaks: list[int]) -> None:
    """Append the plain text of an image's description (_plain_parts on the tree)."""
    link_end = -1
    for node in nodes:
        name = node.name
        if name == "text":
            content = _check_text(node.meta["content"])
            if content[:1] in ("[", "(") and len(parts) == link_end:
                _bracket_after_link()
            parts.append(content)
        elif name == "text_special":
            parts.append(node.meta["content"])
        elif name == "softbreak" or name == "hardbreak":
            parts.append(" ")
            breaks.append(len(parts))
        elif name in _WRAPPERS:
            _read_plain(node.children, parts, breaks)
        elif name == "code_inline":
            parts.extend(_code(node))
        elif name == "link" or name == "image":
            _href(node.meta["url"])  # markdown-it-py must see a link (an image) there too
            _read_plain(node.children, parts, breaks)
            link_end = len(parts)
        elif name == "autolink":
            parts.append(_autolink(node)[1])
        elif name != "html_inline":
            raise _Unmatched(f"inline node {name!r}")


class _TreeReader:
    """Reads the tree of one document into a _Builder, as _parse_tokens reads the tokens."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.source_bytes: bytes | None = None  # encoded when first needed (srcmap is in bytes)
        self.line_ends: list[int] | None = None  # byte offsets of the "\n"s, when first needed
        self.tabs = "\t" in source
        self.tables: list[tuple[Node | None, Node, Node | None]] = []  # top-level, with siblings
        self.b = _Builder()

    def bytes(self) -> bytes:
        if self.source_bytes is None:
            self.source_bytes = self.source.encode()
        return self.source_bytes

    def line_of(self, offset: int) -> int:
        """The 0-based line holding the byte at `offset`."""
        if self.line_ends is None:
            self.line_ends = [m.start() for m in re.finditer(b"\n", self.bytes())]
        return bisect_left(self.line_ends, offset)

    def inline(
        self, nodes: Iterable[Node], span: Node, depth: int = 0
    ) -> tuple[str, list[tuple[str, str]], list[str]]:
        """_walk_inline of some inline nodes, which lie in the source of `span`.

        `depth` is the number of quotes, lists and list items they are in.
        """
        return self.checked(*_read_inline(nodes), span, depth)

    def checked(
        self,
        parts: list[str],
        links: list[tuple[str, str]],
        hidden: list[str],
        breaks: list[int],
        span: Node,
        depth: int,
    ) -> tuple[str, list[tuple[str, str]], list[str]]:
        """Finish inline(): the text, once sure that markdown-it-py reads the same."""
        raw = "".join(parts)
        text = " ".join(raw.split())  # _collapse, inlined: this runs for every block
        # A backtick left as text (no closing run) can make the Rust parser read a link label
        # differently (or panic: see _parse_tree); label scans start at each "[".
        if "`" in text and ("[" in text or hidden):
            raise _Unmatched("a backtick left as text, and a bracket")
        if not text.isascii():
            self.check_delimiters(span)
        # markdown-it-py trims a paragraph, a heading, a cell of Unicode white space (mdTrim); the
        # Rust parser of spaces and tabs only, which can change how the edge is read.
        if raw and (
            (raw[0].isspace() and raw[0] not in " \t\n")
            or (raw[-1].isspace() and raw[-1] not in " \t\n")
        ):
            raise _Unmatched("unusual white space at the edge of a block")
        # In a quote or a list, a line that starts like a list item ends the paragraph for
        # markdown-it-py (an item, or the end of the container); the Rust parser may read it as
        # a lazy continuation of the paragraph instead.
        if depth and breaks:
            for i in breaks:
                if _LIST_MARKER.match("".join(parts[i : i + 3])):
                    raise _Unmatched("a line like a list item in a paragraph in a container")
        return text, links, hidden

    def check_container(self, container: Node) -> None:
        """Give up on a top-level quote or list that holds a tab.

        The parsers expand a tab after the markers of quotes and list items differently: code
        keeps it (markdown-it-py) or spaces (markdown-it-pyrs), and a line can even be code
        for one and a paragraph for the other.
        """
        if self.tabs:
            start, end = container.srcmap  # type: ignore[misc]
            source = self.bytes()
            if b"\t" in source[source.rfind(b"\n", 0, start) + 1 : end]:
                raise _Unmatched("a tab in a quote or a list")

    def runs_to_the_end(self, code: Node) -> bool:
        """Whether code runs to the end of the document.

        In a container, markdown-it-py drops a last line of blanks after ">" from such code.
        """
        return code.srcmap[1] >= len(self.bytes())  # type: ignore[index]

    def check_delimiters(self, span: Node) -> None:
        """Give up if a run of delimiters in `span` may open or close for one parser only.

        A symbol (€, →, an emoji) is punctuation for CommonMark 0.31, not for 0.30: next to a
        run, it changes whether the run can open or close unless the run's other side is white
        space (or the start or end of a line).
        """
        source = self.bytes()
        start, end = span.srcmap or (0, len(source))
        text = source[start:end].decode(errors="replace")
        for match in _DELIMITER_RUN.finditer(text):
            before = text[match.start() - 1] if match.start() else ""
            after = text[match.end() : match.end() + 1]
            if (_is_symbol(after) and before and before not in _MARKDOWN_IT_SPACE) or (
                _is_symbol(before) and after and after not in _MARKDOWN_IT_SPACE
            ):
                raise _Unmatched("a delimiter next to a symbol")

    def blocks(self, parent: Node, depth: int) -> None:
        b = self.b
        # The tree leaves out the paragraph around the text of a tight list item: a run of
        # inline nodes among blocks is such a paragraph.
        run: list[Node] = []
        children = parent.children
        for i, node in enumerate(children):
            name = node.name
            if name not in _BLOCKS:
                run.append(node)
                continue
            if run:
                b.add_inline_block(self.inline(run, parent, depth))
                run = []
            if name == "paragraph":
                b.add_inline_block(self.inline(node.children, node, depth))
            elif name == "bullet_list" or name == "ordered_list":
                if depth + 2 >= _MAX_DEPTH:
                    raise _Unmatched("deep nesting")
                if not depth:
                    self.check_container(node)
                self.items(node, depth + 2)
            elif name in _CONTAINERS:
                if depth + 1 >= _MAX_DEPTH:
                    raise _Unmatched("deep nesting")
                if not depth:
                    self.check_container(node)
                self.blocks(node, depth + 1)
            elif name == "heading" or name == "lheading":
                # Only top-level headings split the guide into sections: a "#" line inside a
                # quote or a list item is part of that quote or item, which continues after it.
                if depth:
                    b.add_inline_block(self.inline(node.children, node, depth))
                else:
                    text, links, _ = self.inline(node.children, node)
                    b.heading(node.meta["level"], text or UNTITLED)
                    b.add_links(links)
            elif name == "table":
                if depth:
                    raise _Unmatched("a table in a container")
                self.tables.append(
                    (
                        children[i - 1] if i else None,
                        node,
                        children[i + 1] if i + 1 < len(children) else None,
                    )
                )
                for part in node.children:
                    _expect(part, "thead", "tbody")
                    for row in part.children:
                        _expect(row, "trow")
                        b.add_row(
                            self.inline(_expect(cell, "tcell").children, row)
                            for cell in row.children
                        )
            elif name == "fence" or name == "code_block":
                if depth and self.runs_to_the_end(node):
                    raise _Unmatched("code in a container that runs to the end")
                meta = node.meta
                b.add_code(meta["content"], meta.get("info", ""))
            elif name == "html_block":
                content = node.meta["content"]
                if _HTML_TAG_CHANGED.match(content):
                    raise _Unmatched("an HTML tag whose kind changed")
                b.add_block(_collapse(content))
            # "hr" and "definition" (of a reference) have no text.
        if run:
            b.add_inline_block(self.inline(run, parent, depth))

    def items(self, list_node: Node, depth: int) -> None:
        """Read the items of a list, at `depth` (counting the list and the item).

        Most items of a guide are tight and hold one line: text and links with plain text. Those
        are read right here, the hot loop of parsing a guide (as _read_inline would read them);
        any other item goes the general way.
        """
        b = self.b
        for item in list_node.children:
            if item.name != "list_item":
                raise _Unmatched(f"{item.name!r} in a list")
            nodes = item.children
            if not nodes:
                continue
            parts: list[str] = []
            links: list[tuple[str, str]] = []
            hidden: list[str] = []
            link_end = -1
            for node in nodes:
                name = node.name
                if name == "text":
                    content = node.meta["content"]
                    if "<!" in content or "~~" in content or "](" in content:
                        _check_text(content)
                    if content[:1] in ("[", "(") and len(parts) == link_end:
                        _bracket_after_link()
                    parts.append(content)
                elif name == "link":
                    children = node.children
                    if len(children) != 1 or children[0].name != "text":
                        break
                    url = node.meta["url"]
                    if "%" in url or (plain := _plain_url(url)) is None or plain.end() > 255:
                        url = _href(url)
                    content = children[0].meta["content"]
                    if "<!" in content or "~~" in content or "](" in content:
                        _check_text(content)
                    parts.append(content)
                    hidden.append(url)
                    links.append((url, " ".join(content.split())))
                    link_end = len(parts)
                else:
                    break
            else:
                raw = "".join(parts)
                text = " ".join(raw.split())
                if "`" in text or not text.isascii() or raw[:1].isspace() or raw[-1:].isspace():
                    b.add_inline_block(self.checked(parts, links, hidden, [], item, depth))
                else:  # what checked() would find: nothing to check
                    b.add_inline_block((text, links, hidden))
                continue
            try:
                inline = self.inline(nodes, item, depth)
            except _BlockMet:  # not a tight item of text only
                self.blocks(item, depth)
            else:
                b.add_inline_block(inline)

    def check_tables(self) -> None:
        """Give up unless both parsers see the same tables, with the same rows.

        The table rules differ (markdown-it-py's comes from markdown-it 14, the Rust one needs no
        "|" at all, ends a table at other lines...), but they agree on a table that sits on its
        own: that is what is checked. Any line that markdown-it-py could take for the delimiter
        row of a table must be one of those tables'.
        """
        if not self.tables and "|" not in self.source:
            return
        lines = self.source.split("\n")
        delimiter_rows = set()
        for previous, table, following in self.tables:
            first, last = self.line_span(table)
            if not (
                last > first
                and _is_table_start(lines[first], lines[first + 1])
                and (first == 0 or _ends_block_before_table(previous, lines[first - 1]))
                and (following is None or _ends_table(following, lines[last + 1]))
                and not any(_BODY_ROW_RISK.match(line) for line in lines[first + 2 : last + 1])
                and (last - first - 1)
                * len(_expect(table.children[0], "thead").children[0].children)
                <= 0x10000
            ):
                raise _Unmatched("a table the parsers may see differently")
            delimiter_rows.add(first + 1)
        row, counted = 0, 0
        for match in _DELIMITER_LIKE.finditer(self.source):
            row += self.source.count("\n", counted, match.start())
            counted = match.start()
            if row in delimiter_rows or not row:
                continue
            # The header follows the markers of the quotes and lists it is in, or of some of
            # them only (a row "> | a |" can be a quote's, or hold a cell ">").
            header = lines[row - 1]
            prefix = _CONTAINER_PREFIX.match(header).end()  # type: ignore[union-attr]
            if any(_is_table_start(header[i:], match.group(1)) for i in range(prefix + 1)):
                raise _Unmatched("a table markdown-it-py may see")

    def line_span(self, node: Node) -> tuple[int, int]:
        start, end = node.srcmap  # type: ignore[misc]
        return self.line_of(start), self.line_of(max(start, end - 1))


def _is_table_start(header: str, delimiter: str) -> bool:
    """Whether markdown-it-py's table rule starts a table on these two lines (at top level)."""
    if "|" not in header or "-" not in delimiter:
        return False
    state = StateBlock(f"{header}\n{delimiter}\n", _MD, {}, [])
    return bool(table_rule(state, 0, 2, True))


def _ends_block_before_table(previous: Node | None, line: str) -> bool:
    """Whether the line before a table ends a block for markdown-it-py too.

    A blank line does, unless a list goes on after it (a table line can be the next item's);
    so does the last line of a block that a table line cannot continue. A table interrupts a
    paragraph in both parsers; a quote or a list could take it in lazily.
    """
    if previous is None:
        return not line.strip(" \t")
    if previous.name in ("bullet_list", "ordered_list"):
        return False
    return not line.strip(" \t") or previous.name in (
        "paragraph",
        "heading",
        "lheading",
        "fence",
        "code_block",
        "hr",
    )


def _ends_table(following: Node, line: str) -> bool:
    """Whether markdown-it-py ends a table, too, at the line after it (`following` starts there).

    It ends one at a blank line, and at the blocks that end a quote (and that both parsers
    agree start there): a fence, a quote, a rule, a list, a heading.
    """
    return not line.strip(" \t") or following.name in (
        "fence",
        "blockquote",
        "hr",
        "bullet_list",
        "ordered_list",
        "heading",
    )


def _expect(node: Node, *names: str) -> Node:
    if node.name not in names:
        raise _Unmatched(f"{node.name!r} where {' or '.join(names)} was expected")
    return node


def _parse_tree(markdown: str) -> ParsedGuide:
    """Parse with markdown-it-pyrs; raise _Unmatched where its reading could differ."""
    # As markdown-it-py's normalize does (then srcmap offsets are offsets in what it reads).
    if "\r" in markdown:
        markdown = _NEWLINES.sub("\n", markdown)
    if "\0" in markdown:
        markdown = markdown.replace("\0", "\ufffd")
    # markdown-it-py has no line for a last line of blanks with no "\n" (the Rust parser has,
    # and would add it to an unclosed fence).
    tail = markdown.rpartition("\n")[2]
    if tail and not tail.strip(" \t"):
        markdown = markdown[: len(markdown) - len(tail)]
    try:
        root = _RUST_MD.tree(markdown)
    except UnicodeEncodeError as error:  # lone surrogates: not representable in Rust
        raise _Unmatched("text that is not valid Unicode") from error
    except BaseException as error:
        # A panic of the Rust parser surfaces as pyo3's PanicException, a BaseException. Known
        # one: "[" then an unclosed code span, e.g. "[`x" (markdown-it.rs issue #40). Rust also
        # prints the panic to stderr.
        if type(error).__name__ != "PanicException":
            raise
        raise _Unmatched("a panic of the Rust parser") from error
    reader = _TreeReader(markdown)
    reader.blocks(root, 0)
    reader.check_tables()
    reader.b.flush()
    return ParsedGuide(sections=tuple(reader.b.sections), links=reader.b.links)


# --------------------------------------------------------------------------------------------
# Parsing with markdown-it-py (the reference, and the fallback)
# --------------------------------------------------------------------------------------------


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


# Built once, like _RUST_MD.
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _parse_tokens(markdown: str) -> ParsedGuide:
    """Parse with markdown-it-py (~10x slower than _parse_tree, same result)."""
    tokens = _MD.parse(markdown)
    b = _Builder()
    row: list[tuple[str, list[tuple[str, str]], list[str]]] | None = None  # cells being read
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        kind = tok.type
        # Only top-level headings split the guide into sections (see _read_blocks).
        if kind == "heading_open" and tok.level == 0:
            inline = tokens[i + 1]
            text, links, _ = _walk_inline(inline.children or ())
            b.heading(int(tok.tag[1]), text or UNTITLED)
            b.add_links(links)
            i += 3  # heading_open, inline, heading_close
            continue
        if kind == "inline":
            if row is not None:
                row.append(_walk_inline(tok.children or ()))
            else:  # a paragraph, wherever it sits (list item, quote), or a nested heading
                b.add_inline_block(_walk_inline(tok.children or ()))
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            b.add_row(row)
            row = None
        elif kind in ("fence", "code_block"):
            b.add_code(tok.content, tok.info)
        elif kind == "html_block":
            b.add_block(_collapse(tok.content))
        i += 1
    b.flush()
    return ParsedGuide(sections=tuple(b.sections), links=b.links)


def _parse(markdown: str) -> ParsedGuide:
    try:
        return _parse_tree(markdown)
    except _Unmatched:
        return _parse_tokens(markdown)


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
    """The changes from `old` to `new` (`old=None` for a guide's first version).

    PROVISIONAL: block-level engine mapped onto the new data model; the word-level engine
    replaces it.
    """
    if isinstance(old, str) and isinstance(new, str) and old == new:
        return GuideDiff()
    new_doc = _as_parsed(new, "new")
    old_doc = _EMPTY_GUIDE if old is None else _as_parsed(old, "old")
    links: defaultdict[str, list[LinkChange]] = defaultdict(list)
    removed_count: defaultdict[str, int] = defaultdict(int)
    old_links, new_links = old_doc.links, new_doc.links
    for url, link in new_links.items():
        before = old_links.get(url)
        if before is None:
            links[link.section].append(LinkChange(LINK_ADDED, url, link.title))
        elif before.section != link.section:
            old_title = before.title if before.title != link.title else ""
            links[link.section].append(
                LinkChange(
                    LINK_MOVED, url, link.title, old_title=old_title, old_section=before.section
                )
            )
        elif before.title != link.title:
            links[link.section].append(
                LinkChange(LINK_RETITLED, url, link.title, old_title=before.title)
            )
    new_keys = {s.key for s in new_doc.sections}
    for url, link in old_links.items():
        if url not in new_links:
            if link.section in new_keys:
                links[link.section].append(LinkChange(LINK_REMOVED, url, link.title))
            else:
                removed_count[link.section] += 1
    old_sections = {s.key: s for s in old_doc.sections}
    removed_after: defaultdict[str | None, list[SectionDiff]] = defaultdict(list)
    anchor: str | None = None
    for s in old_doc.sections:
        if s.key in new_keys:
            anchor = s.key
        else:
            removed_after[anchor].append(
                SectionDiff(
                    s.key,
                    s.title,
                    s.level,
                    REMOVED,
                    removed_link_count=removed_count[s.key],
                    removed_paragraph_count=len(s.blocks),
                )
            )
    result: list[SectionDiff] = list(removed_after.get(None, ()))
    for s in new_doc.sections:
        before_section = old_sections.get(s.key)
        if before_section is None:
            paragraphs = tuple(ParagraphChange(ADDED, (Span(INSERT, b),)) for b in s.blocks)
            result.append(
                SectionDiff(s.key, s.title, s.level, ADDED, paragraphs, tuple(links.get(s.key, ())))
            )
        else:
            added, removed = _paragraph_changes(before_section, s)
            paragraphs = tuple(
                ParagraphChange(REMOVED, (Span(DELETE, b),)) for b in removed
            ) + tuple(ParagraphChange(ADDED, (Span(INSERT, b),)) for b in added)
            if paragraphs or links.get(s.key):
                result.append(
                    SectionDiff(
                        s.key, s.title, s.level, CHANGED, paragraphs, tuple(links.get(s.key, ()))
                    )
                )
        result.extend(removed_after.get(s.key, ()))
    return GuideDiff(tuple(result))
