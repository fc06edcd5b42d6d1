"""The diff of two versions of a Markdown guide, as a reader means it: a diff of meaning, not of blocks.

Subscribers are not told "line 812 changed". They are told, per section of the guide, which
paragraphs changed, with the changed words marked; which links are new, gone, updated to a new
address, retitled or moved; which sections were added, removed or moved under another heading.
docs/diff.md says it in a reader's words. The rules:

- Both texts are parsed (markdown-it-py, the parser the site renders with) and compared on the
  parse, never on raw lines: re-wrapping a paragraph, reference- versus inline-style links and
  emphasis markup are not changes. A section is a heading and what follows it up to the next
  heading; its key is its heading path. A block is a paragraph (wherever it sits: list item,
  quote), a table row, a code block or a heading that opens no section; each keeps where its
  links are in its display text, so a word diff can carry their hrefs (Span.href).
- Sections are matched by heading path and content (_match_sections): a section whose path
  changed but whose content is (nearly) the same is "moved" (old_key), not removed + added; a
  removed section is one compact item with counts.
- Within a section, blocks are aligned with difflib's SequenceMatcher on their keys (display
  text + hidden URLs); in each replaced run, old and new blocks are paired by word similarity
  (_pair_blocks, more than half of the words and URLs in common), so a one-word fix is one
  "changed" paragraph whose spans mark that word. "added"/"removed" are blocks with no
  counterpart.
- Links: identity is the URL (its first occurrence gives its title and section). An old URL gone
  from the guide and a new one that appeared, at the same place in a paired block (same title,
  or same position among the block's links) or with the same title in the same section, are one
  "updated" link. If URL or title changes are all that changed in a block, no paragraph is
  reported for it: the link change says it. A link change visible inside a reported paragraph
  (a new link's "+" text) has in_paragraph=True and is not listed again.

The word diff: difflib's SequenceMatcher on word tokens (words, runs of whitespace, single
punctuation characters), after matching the common head and tail directly, then
diff-match-patch's semantic cleanup rule applied to the token regions (_word_regions).
fast-diff-match-patch (the C++ diff-match-patch, with that cleanup built in) was tried and not
kept: it diffs characters, and its cleanup leaves part-word marks on exactly the edits a reader
gets ("con{+s+}traints", "th[-e-]{+is+}", "a[- grea-]{+n excellen+}t"); a word mode means
encoding each token as one character and decoding after, around a library whose 2.1.0 wheel
installs a top-level `tests` package into site-packages, which shadows this repository's
`tests` and broke the test suite on import. It is faster (~12 µs against 0.3-0.5 ms on this
shared machine for a 230-character paragraph with two edits far apart), but only changed blocks
are word-diffed, a few dozen in a release. difflib on tokens marks whole words by construction, and with the
cleanup rule on top a rewritten phrase reads as one deletion and one insertion.

This module has no Django import, so it can run in a worker, a management command or a test
without settings. What it returns is immutable (frozen dataclasses and tuples) and a GuideDiff
exports to JSON (to_dict/from_dict).

Cost: parsing dominates (markdown-it-py, 1-3 s for a 10,000-link guide), so parses are
memoised here and a published version's parse is stored once (guide.parses, keyed by a hash of
its content; ParsedGuide.to_bytes is its form); diff_guides accepts ParsedGuide. The diff
itself is linear in links and sections (dicts keyed by URL and section; the URLs of sections
identical to their old selves are skipped as a run) plus one alignment per changed section
(SequenceMatcher only where the changed runs of blocks share one) and one word diff per changed
block; SequenceMatcher is cydifflib's where installed (difflib compiled, same results). Loading
a stored parse and diffing run with the garbage collector paused (_collector_paused). See
bench/diff_bench.py; tests/test_diff_shortcuts.py checks each shortcut against the long way.
"""

from __future__ import annotations

import gc
import operator
import pickle
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import lru_cache
from itertools import compress, count
from threading import Lock
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

try:
    # difflib compiled with Cython: the same algorithm and results (tests/test_diff_shortcuts.py
    # compares them), several times faster on word diffs. Where it has no wheel, difflib.
    from cydifflib import SequenceMatcher
except ImportError:  # pragma: no cover - Pythons without a cydifflib wheel
    from difflib import SequenceMatcher

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

    def shown_in_paragraph(self) -> LinkChange:
        """This change with in_paragraph=True (a direct call: dataclasses.replace costs ten
        times more, for each of hundreds of links in a large diff)."""
        return LinkChange(
            self.kind, self.url, self.title, self.old_url, self.old_title, self.old_section, True
        )

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
        sections_moved), and a paragraph added or removed with a new or removed link in it is
        part of that link.
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
                # A list item added (removed) with its new (removed) link is that link: counted
                # once, as the link.
                carried = {
                    link.url
                    for link in section.links
                    if link.in_paragraph and link.kind in (LINK_ADDED, LINK_REMOVED)
                }
                for paragraph in section.paragraphs:
                    if paragraph.status != CHANGED and any(
                        span.href in carried for span in paragraph.spans
                    ):
                        continue
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


def _field_values(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, f.name) for f in fields(obj))


# A link occurrence in a block: where its text is in the block's display text, and its URL.
LinkSpan = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class ParsedSection:
    key: str  # heading path, unique within the document ("" for the introduction)
    base: str  # the heading path without the suffix that makes a duplicate unique: "A" for "A (2)"
    title: str
    level: int
    blocks: tuple[str, ...]  # display text of each block
    # What blocks are compared on: the display text plus the link/image URLs (and raw HTML) the
    # text hides, so a changed href changes the block although its visible text did not.
    block_keys: tuple[str, ...]
    # Per block, its links in order: (start, end, url), text[start:end] being the link's text.
    block_links: tuple[tuple[LinkSpan, ...], ...]
    heading_links: tuple[tuple[str, str], ...] = ()  # (url, title) of links in the heading
    code: frozenset[int] = frozenset()  # indices of the code blocks

    def __reduce__(self) -> tuple[type[ParsedSection], tuple[Any, ...]]:
        # Pickled as a call with the fields in order: loading a stored parse then constructs
        # each section directly, where the dataclass's own __setstate__ loops over fields()
        # per object (a fifth of the load of a 500-section guide). Bytes in that state form
        # still load.
        return ParsedSection, _field_values(self)

    @property
    def links(self) -> tuple[Link, ...]:
        """Distinct URLs in this section, each at its first occurrence in the section."""
        found: dict[str, Link] = {}
        for url, title in self.heading_links:
            found.setdefault(url, Link(url, title, self.key))
        for text, spans in zip(self.blocks, self.block_links, strict=True):
            for start, end, url in spans:
                if url not in found:
                    found[url] = Link(url, text[start:end], self.key)
        return tuple(found.values())


@dataclass(frozen=True, slots=True)
class ParsedGuide:
    """A guide read for diffing: its sections in document order. Immutable; to_bytes/from_bytes
    give the form a published version's parse is stored in (guide.parses)."""

    sections: tuple[ParsedSection, ...]
    # Each distinct URL at its first occurrence, in document order, and where that is: four ints
    # per URL, (section, block, start, end) with text[start:end] the link's text, or
    # (section, -1, k, 0) for the k-th link of the section's heading. Derived from `sections`
    # when not given; kept flat so that a stored parse loads fast.
    link_urls: tuple[str, ...] = None  # type: ignore[assignment]
    link_where: tuple[int, ...] = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type[ParsedGuide], tuple[Any, ...]]:
        return ParsedGuide, _field_values(self)  # as ParsedSection's

    def __post_init__(self) -> None:
        if self.link_urls is None or self.link_where is None:
            urls, where = _link_index(self.sections)
            object.__setattr__(self, "link_urls", urls)
            object.__setattr__(self, "link_where", where)

    def link_title(self, k: int) -> str:
        """The text of the k-th URL's first occurrence."""
        si, bi, start, end = self.link_where[4 * k : 4 * k + 4]
        section = self.sections[si]
        if bi < 0:
            return section.heading_links[start][1]
        return section.blocks[bi][start:end]

    @property
    def links(self) -> dict[str, Link]:
        """url -> first occurrence in the document, in document order."""
        sections = self.sections
        return {
            url: Link(url, self.link_title(k), sections[self.link_where[4 * k]].key)
            for k, url in enumerate(self.link_urls)
        }

    @property
    def urls(self) -> frozenset[str]:
        return frozenset(self.links)

    @property
    def section_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.sections)

    def to_bytes(self) -> bytes:
        """The stored form (guide.parses): a pickle, the fastest of the forms measured to load."""
        return pickle.dumps(self, protocol=5)

    @classmethod
    def from_bytes(cls, data: bytes) -> ParsedGuide:
        """Load what to_bytes gave. Only for bytes this code wrote: it unpickles."""
        with _collector_paused():
            parsed = pickle.loads(data)  # noqa: S301 - our own bytes, see guide.parses
        if not isinstance(parsed, cls):
            raise TypeError(f"stored parse holds {type(parsed).__name__}, not {cls.__name__}")
        return parsed


_collector_lock = Lock()
_collector_pauses = 0
_collector_was_enabled = False


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Run a block with Python's cyclic garbage collector off.

    Loading a stored parse creates tens of thousands of tuples and a diff as many short-lived
    containers, none in a reference cycle: the collector would only scan them, dozens of times
    per load, and in a worker whose heap holds Django a full collection costs more than the
    diff. The collector is process-wide, so pauses are counted: the last one out switches it
    back on, and only if it was on.
    """
    global _collector_pauses, _collector_was_enabled
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_enabled:
                gc.enable()


def _link_index(sections: Sequence[ParsedSection]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    seen: set[str] = set()
    urls: list[str] = []
    where: list[int] = []
    for si, section in enumerate(sections):
        for k, (url, _) in enumerate(section.heading_links):
            if url not in seen:
                seen.add(url)
                urls.append(url)
                where.extend((si, -1, k, 0))
        for bi, spans in enumerate(section.block_links):
            for start, end, url in spans:
                if url not in seen:
                    seen.add(url)
                    urls.append(url)
                    where.extend((si, bi, start, end))
    return tuple(urls), tuple(where)


_EMPTY_GUIDE = ParsedGuide(sections=())


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

# What reading a paragraph gives: display text, links (start, end, url) in it, hidden parts.
_Inline = tuple[str, list[LinkSpan], list[str]]


def _collapse(text: str) -> str:
    return " ".join(text.split())


class _Builder:
    """Accumulates sections while walking the token stream once, in document order."""

    def __init__(self) -> None:
        self.sections: list[ParsedSection] = []
        self.seen_keys: set[str] = {""}
        # (level, title) of the enclosing headings, outermost first.
        self.path: list[tuple[int, str]] = []
        self.key = self.base = ""
        self.title = INTRO_TITLE
        self.level = 0
        self.heading_links: tuple[tuple[str, str], ...] = ()
        self.blocks: list[str] = []
        self.block_keys: list[str] = []
        self.block_links: list[tuple[LinkSpan, ...]] = []
        self.code: set[int] = set()

    def flush(self) -> None:
        # The introduction only exists if there is something before the first heading; an
        # empty one would show up as "added" in every first-version diff.
        if self.level == 0 and not self.blocks:
            return
        self.sections.append(
            ParsedSection(
                key=self.key,
                base=self.base,
                title=self.title,
                level=self.level,
                blocks=tuple(self.blocks),
                block_keys=tuple(self.block_keys),
                block_links=tuple(self.block_links),
                heading_links=self.heading_links,
                code=frozenset(self.code),
            )
        )

    def heading(self, level: int, inline: _Inline) -> None:
        self.flush()
        text, links, _ = inline
        title = text or UNTITLED
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        self.path.append((level, title))
        base = SECTION_SEPARATOR.join(t for _, t in self.path)
        key, n = base, 1
        while key in self.seen_keys:
            n += 1
            key = f"{base} ({n})"
        self.seen_keys.add(key)
        self.key, self.base, self.title, self.level = key, base, title, level
        self.heading_links = tuple((url, text[start:end]) for start, end, url in links)
        self.blocks = []
        self.block_keys = []
        self.block_links = []
        self.code = set()

    def add_block(
        self, text: str, hidden: Sequence[str] = (), links: Sequence[LinkSpan] = ()
    ) -> None:
        self.blocks.append(text)
        # "\x1f" (unit separator) counts as whitespace for str.split, so collapsed text never
        # holds one and neither does a normalised URL: the joined identity is unambiguous.
        self.block_keys.append("\x1f".join((text, *hidden)) if hidden else text)
        self.block_links.append(tuple(links) if links else ())

    def add_row(self, cells: Iterable[_Inline]) -> None:
        """A table row is one block: its cells' texts joined by " | "."""
        texts: list[str] = []
        hidden: list[str] = []
        links: list[LinkSpan] = []
        offset = 0
        for text, cell_links, cell_hidden in cells:
            if texts:
                offset += len(_CELL_SEPARATOR)
            links.extend((offset + start, offset + end, url) for start, end, url in cell_links)
            texts.append(text)
            hidden.extend(cell_hidden)
            offset += len(text)
        self.add_block(_CELL_SEPARATOR.join(texts), hidden, links)

    def add_code(self, content: str, info: str) -> None:
        # Code is whitespace-sensitive: keep it as written (minus the final newline), and let
        # the language of a fence count too.
        info = info.strip()
        self.code.add(len(self.blocks))
        self.add_block(content.rstrip("\n"), (f"lang:{info}",) if info else ())


_CELL_SEPARATOR = " | "


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


def _walk_inline(children: Sequence[Token]) -> _Inline:
    """Display text, links (start, end, href) and hidden identity parts of one inline token.

    Inline markup is dropped (emphasis, code spans keep their text); breaks become spaces and
    whitespace is collapsed, so re-wrapping is invisible. Images contribute their alt text but
    are not links. Raw inline HTML is not text, but it is part of the block's identity. Each
    link's text is text[start:end], whitespace trimmed.
    """
    out: list[str] = []
    length = 0
    pending = False  # whitespace seen since the last word: one space before the next
    links: list[LinkSpan] = []
    hidden: list[str] = []
    href: str | None = None
    start = 0

    def append(piece: str) -> None:
        nonlocal length, pending
        words = piece.split()
        if not words:
            pending = pending or bool(piece)
            return
        if piece[0].isspace():
            pending = True
        for word in words:
            if pending and length:
                out.append(" ")
                length += 1
            out.append(word)
            length += len(word)
            pending = True  # the next word of this piece follows whitespace
        pending = piece[-1].isspace()

    for tok in children:
        kind = tok.type
        if kind in ("text", "text_special", "code_inline"):
            append(tok.content)
        elif kind in ("softbreak", "hardbreak"):
            pending = True
        elif kind == "link_open":
            href = str(tok.attrs.get("href", ""))
            start = length
            hidden.append(href)
        elif kind == "link_close":
            if href is not None:
                links.append((start, length, href))
                href = None
        elif kind == "image":
            hidden.append("img:" + str(tok.attrs.get("src", "")))
            if tok.children:
                alt: list[str] = []
                _plain_parts(tok.children, alt)
                for piece in alt:
                    append(piece)
        elif kind == "html_inline":
            hidden.append(_collapse(tok.content))  # re-wrapping inside a tag is no change either
    text = "".join(out)
    if links:
        trimmed = []
        for s, e, url in links:
            # A link opened after pending whitespace starts after the space that followed.
            while s < e and text[s] == " ":
                s += 1
            trimmed.append((s, max(s, e), url))
        links = trimmed
    return text, links, hidden


# The one parser: markdown-it-py, as the site (guide.markdown) renders with, same table and
# strikethrough rules. Built once: constructing a parser compiles its rule chains.
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _parse(markdown: str) -> ParsedGuide:
    tokens = _MD.parse(markdown)
    b = _Builder()
    row: list[_Inline] | None = None  # cells being read
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        kind = tok.type
        # Only top-level headings split the guide into sections; a heading in a quote or a
        # list is a block.
        if kind == "heading_open" and tok.level == 0:
            b.heading(int(tok.tag[1]), _walk_inline(tokens[i + 1].children or ()))
            i += 3  # heading_open, inline, heading_close
            continue
        if kind == "inline":
            inline = _walk_inline(tok.children or ())
            if row is not None:
                row.append(inline)
            else:  # a paragraph, wherever it sits (list item, quote), or a nested heading
                text, links, hidden = inline
                b.add_block(text, hidden, links)
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
    return ParsedGuide(sections=tuple(b.sections))


# Parses are memoised: the same two texts are typically diffed several times in a row (admin
# preview, e-mail, compare page), parsing is the expensive part, and a ParsedGuide is immutable
# so sharing one is safe. A handful of entries bounds memory to a few megabytes each. Published
# versions do not even parse: their parse is stored (guide.parses).
@lru_cache(maxsize=8)
def _parse_cached(markdown: str) -> ParsedGuide:
    return _parse(markdown)


def parse_guide(markdown: str) -> ParsedGuide:
    """Parse a guide into sections, blocks and their links (memoised on the text)."""
    if not isinstance(markdown, str):
        raise TypeError(f"parse_guide expects str, not {type(markdown).__name__}")
    return _parse_cached(markdown)


def clear_parse_cache() -> None:
    """Forget memoised parses (benchmarks measure cold parses; tests may want isolation)."""
    _parse_cached.cache_clear()


# --------------------------------------------------------------------------------------------
# Word diff of two blocks
# --------------------------------------------------------------------------------------------

# Words (with inner apostrophes: "don't"), runs of whitespace, and single other characters:
# every character falls in exactly one token, so the tokens joined give the text back.
WORD_TOKEN = re.compile(r"\w+(?:['\N{RIGHT SINGLE QUOTATION MARK}]\w+)*|\s+|[^\w\s]")
_WORD = re.compile(r"\w+")


def _common_ends(a: Sequence[str], b: Sequence[str]) -> tuple[int, int]:
    """How many items a and b have in common at their start and, after that, at their end.

    The first difference is found by iterators in C (map over both with !=), not a Python
    loop: a word diff compares dozens of tokens, block alignment a section's blocks.
    """
    limit = min(len(a), len(b))
    head = next(compress(count(), map(operator.ne, a, b)), limit)
    tail = next(compress(count(), map(operator.ne, reversed(a), reversed(b))), limit)
    return head, min(tail, limit - head)


def _offsets(tokens: Sequence[str]) -> list[int]:
    """Character offset of each token, and the text's length last."""
    offsets = [0]
    total = 0
    for token in tokens:
        total += len(token)
        offsets.append(total)
    return offsets


def _word_regions(old: str, new: str) -> list[tuple[bool, int, int, int, int]]:
    """(changed, old_start, old_end, new_start, new_end) character regions, in order.

    difflib's matching on word tokens, then the semantic cleanup of diff-match-patch (Neil
    Fraser's cleanupSemantic) on those regions: an unchanged run no longer than the changes on
    both sides of it is folded into them ("[-a b c-]{+x b y+}" rather than "a" struck, "b" kept,
    "c" struck...), so the marks read like a human edit.
    """
    a, b = WORD_TOKEN.findall(old), WORD_TOKEN.findall(new)
    oa, ob = _offsets(a), _offsets(b)
    # Most edits are local: match the common head and tail directly, and only the middle with
    # SequenceMatcher (which costs ~0.5 ms for a whole paragraph on this machine).
    head, tail = _common_ends(a, b)
    opcodes: list[tuple[str, int, int, int, int]] = []
    if head:
        opcodes.append(("equal", 0, head, 0, head))
    matcher = SequenceMatcher(
        None, a[head : len(a) - tail], b[head : len(b) - tail], autojunk=False
    )
    opcodes.extend(
        (tag, head + i1, head + i2, head + j1, head + j2)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
    )
    if tail:
        opcodes.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    regions: list[list[Any]] = []  # [changed, i1, i2, j1, j2] in token indices
    for tag, i1, i2, j1, j2 in opcodes:
        changed = tag != "equal"
        if regions and not regions[-1][0] and not changed:
            regions[-1][2], regions[-1][4] = i2, j2
            continue
        if regions and regions[-1][0] and changed:
            regions[-1][2], regions[-1][4] = i2, j2
        else:
            regions.append([changed, i1, i2, j1, j2])

    # Cleanup: fold an equality into the changes around it while it is no longer (in characters)
    # than the larger side of the change before it and of the change after it, as
    # cleanupSemantic does; but only between two replacements: text kept between two pure
    # insertions (or deletions) stays kept, not struck and inserted again.
    def replaced(r: list[Any]) -> bool:
        return r[1] < r[2] and r[3] < r[4]

    def size(r: list[Any]) -> int:
        return max(oa[r[2]] - oa[r[1]], ob[r[4]] - ob[r[3]])

    out: list[list[Any]] = []
    for region in regions:
        out.append(region)
        while (
            len(out) >= 3
            and out[-1][0]
            and not out[-2][0]
            and out[-3][0]
            and replaced(out[-1])
            and replaced(out[-3])
            and oa[out[-2][2]] - oa[out[-2][1]] <= min(size(out[-3]), size(out[-1]))
        ):
            after = out.pop()
            out.pop()
            out[-1][2], out[-1][4] = after[2], after[4]
    return [(c, oa[i1], oa[i2], ob[j1], ob[j2]) for c, i1, i2, j1, j2 in out]


def _linked(
    text: str, start: int, end: int, links: Sequence[LinkSpan]
) -> Iterator[tuple[str, str | None]]:
    """text[start:end] cut where links begin and end: (piece, href or None)."""
    position = start
    for link_start, link_end, url in links:
        if link_end <= position or link_start == link_end:
            continue
        if link_start >= end:
            break
        if link_start > position:
            yield text[position:link_start], None
            position = link_start
        stop = min(link_end, end)
        yield text[position:stop], url
        position = stop
    if position < end:
        yield text[position:end], None


def _spans(pieces: Iterable[tuple[str, str, str | None]]) -> tuple[Span, ...]:
    """Spans from (op, text, href) pieces: empty ones dropped, neighbours alike merged."""
    runs: list[list[Any]] = []
    for op, text, href in pieces:
        if not text:
            continue
        if runs and runs[-1][0] == op and runs[-1][2] == href:
            runs[-1][1] += text
        else:
            runs.append([op, text, href])
    return tuple(Span(op, text, href) for op, text, href in runs)


def _whole(op: str, text: str, links: Sequence[LinkSpan]) -> tuple[Span, ...]:
    if not links:
        return (Span(op, text),) if text else ()
    return _spans((op, piece, href) for piece, href in _linked(text, 0, len(text), links))


def word_diff(
    old: str, old_links: Sequence[LinkSpan], new: str, new_links: Sequence[LinkSpan]
) -> tuple[Span, ...]:
    """The word diff of one paragraph: spans that give back both texts ("=" and "-" the old, "="
    and "+" the new), each carrying the href of the link it is the text of (LinkSpan: start, end,
    url in its text)."""

    def pieces() -> Iterator[tuple[str, str, str | None]]:
        for changed, i1, i2, j1, j2 in _word_regions(old, new):
            if not changed:
                for piece, href in _linked(new, j1, j2, new_links):
                    yield EQUAL, piece, href
                continue
            for piece, href in _linked(old, i1, i2, old_links):
                yield DELETE, piece, href
            for piece, href in _linked(new, j1, j2, new_links):
                yield INSERT, piece, href

    return _spans(pieces())


# --------------------------------------------------------------------------------------------
# Pairing blocks, and sections
# --------------------------------------------------------------------------------------------

# Two blocks are one block edited when more than half of their words (and link URLs) are common.
_PAIR_SIMILARITY = 0.5
# Above this many candidate pairs in one replaced run, pair within a window only.
_PAIR_FULL_SEARCH = 2500
_PAIR_WINDOW = 8
# A section under another heading is the same section moved when nearly all its blocks are.
_MOVE_SIMILARITY = 0.8


def _bag(text: str, links: Sequence[LinkSpan]) -> frozenset[str]:
    """What a block's similarity is measured on: its distinct words, and its link URLs."""
    words = _WORD.findall(text.casefold())
    if links:
        words.extend("\x1f" + url for _, _, url in links)
    return frozenset(words)


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice's coefficient: the share of words (and URLs) the two have in common."""
    total = len(a) + len(b)
    return 2 * len(a & b) / total if total else 1.0


def _pair_blocks(
    n: int, m: int, similarity: Callable[[int, int], float]
) -> list[tuple[int | None, int | None]]:
    """Order-keeping pairing of n old and m new items (blocks of a replaced run, or sections):
    (i, j) pairs, (i, None) removed, (None, j) added.

    Maximises the summed similarity of pairs above _PAIR_SIMILARITY (a small dynamic program);
    for a very large run, each old block takes the best new block in a window after the last
    pair instead.
    """
    pairs: list[tuple[int, int]] = []
    if n * m <= _PAIR_FULL_SEARCH:
        sim = [[similarity(i, j) for j in range(m)] for i in range(n)]
        # best[i][j]: best total for old[i:], new[j:].
        best = [[0.0] * (m + 1) for _ in range(n + 1)]
        for i in range(n - 1, -1, -1):
            row, below = best[i], best[i + 1]
            for j in range(m - 1, -1, -1):
                value = max(below[j], row[j + 1])
                if sim[i][j] > _PAIR_SIMILARITY:
                    value = max(value, sim[i][j] + below[j + 1])
                row[j] = value
        i = j = 0
        while i < n and j < m:
            if sim[i][j] > _PAIR_SIMILARITY and best[i][j] == sim[i][j] + best[i + 1][j + 1]:
                pairs.append((i, j))
                i, j = i + 1, j + 1
            elif best[i][j] == best[i + 1][j]:
                i += 1
            else:
                j += 1
    else:
        j0 = 0
        for i in range(n):
            window = range(j0, min(m, j0 + _PAIR_WINDOW))
            scored = [(similarity(i, j), -j) for j in window]
            if scored:
                score, minus_j = max(scored)
                if score > _PAIR_SIMILARITY:
                    pairs.append((i, -minus_j))
                    j0 = -minus_j + 1
    out: list[tuple[int | None, int | None]] = []
    i = j = 0
    for pi, pj in [*pairs, (n, m)]:
        out.extend((k, None) for k in range(i, pi))
        out.extend((None, k) for k in range(j, pj))
        if pi < n:
            out.append((pi, pj))
        i, j = pi + 1, pj + 1
    return out


def block_opcodes(a: Sequence[str], b: Sequence[str]) -> list[tuple[str, int, int, int, int]]:
    """SequenceMatcher's opcodes for two runs of block keys.

    Between a common head and tail the middles are mostly a block or two with nothing in
    common (one block edited, added or removed), for which SequenceMatcher finds no match and
    gives one opcode; that opcode is given here without building a matcher (tens of µs each,
    for hundreds of changed sections). tests/test_diff_shortcuts.py checks it against difflib.
    """
    if not a or not b or set(a).isdisjoint(b):
        if not a and not b:
            return []
        tag = "insert" if not a else "delete" if not b else "replace"
        return [(tag, 0, len(a), 0, len(b))]
    return SequenceMatcher(None, a, b, autojunk=False).get_opcodes()


def _align_blocks(old: ParsedSection, new: ParsedSection) -> list[tuple[int | None, int | None]]:
    """Blocks of two versions of a section that differ: paired (i, j), removed, added."""
    a, b = old.block_keys, new.block_keys
    # The common head and tail are matched directly (most edits are local), the middle with
    # SequenceMatcher (block_opcodes); autojunk would treat frequent blocks (e.g. repeated
    # "See also") as junk and mis-align.
    head, tail = _common_ends(a, b)
    middle_a, middle_b = a[head : len(a) - tail], b[head : len(b) - tail]
    out: list[tuple[int | None, int | None]] = []
    for tag, i1, i2, j1, j2 in block_opcodes(middle_a, middle_b):
        i1, i2, j1, j2 = i1 + head, i2 + head, j1 + head, j2 + head
        if tag == "equal":
            continue
        if tag == "delete":
            out.extend((i, None) for i in range(i1, i2))
        elif tag == "insert":
            out.extend((None, j) for j in range(j1, j2))
        else:
            old_bags = [_bag(old.blocks[i], old.block_links[i]) for i in range(i1, i2)]
            new_bags = [_bag(new.blocks[j], new.block_links[j]) for j in range(j1, j2)]
            pairs = _pair_blocks(
                i2 - i1,
                j2 - j1,
                lambda i, j, a=old_bags, b=new_bags: _similarity(a[i], b[j]),  # type: ignore[misc]
            )
            out.extend(
                (None if i is None else i1 + i, None if j is None else j1 + j) for i, j in pairs
            )
    return out


def _match_sections(old_doc: ParsedGuide, new_doc: ParsedGuide) -> dict[int, int]:
    """new section index -> old section index, for sections that are the same section.

    In order: the same heading path and content, even if a duplicate's number shifted ("Tools
    (3)" is now "Tools (2)"); the same heading path and mostly the same content, in order; the
    same key; the same content (non-empty) under another heading path (a renamed or moved
    heading); then the same title with mostly the same content, or any title with nearly the
    same content.
    """
    old_sections, new_sections = old_doc.sections, new_doc.sections
    matched: dict[int, int] = {}
    used: set[int] = set()

    def take(j: int, i: int) -> None:
        matched[j] = i
        used.add(i)

    def left() -> tuple[list[int], list[int]]:
        return (
            [i for i in range(len(old_sections)) if i not in used],
            [j for j in range(len(new_sections)) if j not in matched],
        )

    by_content: defaultdict[tuple[str, tuple[str, ...]], list[int]] = defaultdict(list)
    for i, s in enumerate(old_sections):
        by_content[(s.base, s.block_keys)].append(i)
    for j, s in enumerate(new_sections):
        candidates = by_content.get((s.base, s.block_keys))
        if candidates:
            take(j, candidates.pop(0))
    old_left, new_left = left()
    if not old_left or not new_left:
        return matched
    bags: dict[tuple[int, int], frozenset[str]] = {}

    def bag(side: int, index: int, words: bool) -> frozenset[str]:
        found = bags.get((side * 2 + words, index))
        if found is None:
            section = (old_sections, new_sections)[side][index]
            found = frozenset(
                (
                    word
                    for text, links in zip(section.blocks, section.block_links, strict=True)
                    for word in _bag(text, links)
                )
                if words
                else section.blocks
            )
            bags[side * 2 + words, index] = found
        return found

    def similarity(i: int, j: int) -> float:
        """Of two sections: the share of blocks in common or, for short sections (where one
        edited block changes most of them), of words."""
        by_blocks = _similarity(bag(0, i, False), bag(1, j, False))
        if by_blocks > _PAIR_SIMILARITY or min(len(bags[0, i]), len(bags[2, j])) > 3:
            return by_blocks
        return max(by_blocks, _similarity(bag(0, i, True), bag(1, j, True)))

    # Duplicate headings: pair each base's remaining sections in order, by content.
    old_by_base: defaultdict[str, list[int]] = defaultdict(list)
    new_by_base: defaultdict[str, list[int]] = defaultdict(list)
    for i in old_left:
        old_by_base[old_sections[i].base].append(i)
    for j in new_left:
        new_by_base[new_sections[j].base].append(j)
    for base, js in new_by_base.items():
        is_ = old_by_base.get(base)
        if is_ and (len(is_) > 1 or len(js) > 1):
            pairs = _pair_blocks(
                len(is_),
                len(js),
                lambda a, b, is_=is_, js=js: similarity(is_[a], js[b]),  # type: ignore[misc]
            )
            for pi, pj in pairs:
                if pi is not None and pj is not None:
                    take(js[pj], is_[pi])
    old_by_key = {s.key: i for i, s in enumerate(old_sections)}
    for j in new_left:
        if j not in matched:
            i = old_by_key.get(new_sections[j].key)
            if i is not None and i not in used:
                take(j, i)
    old_left, new_left = left()
    if not old_left or not new_left:
        return matched
    by_blocks: defaultdict[tuple[str, ...], list[int]] = defaultdict(list)
    for i in old_left:
        if old_sections[i].blocks:
            by_blocks[old_sections[i].blocks].append(i)
    for j in new_left:
        candidates = by_blocks.get(new_sections[j].blocks)
        if candidates:
            take(j, candidates.pop(0))
    old_left, new_left = left()
    everything = len(old_left) * len(new_left) <= _PAIR_FULL_SEARCH
    for j in new_left:
        new = new_sections[j]
        best, best_i = 0.0, -1
        for i in old_left:
            if i in used:
                continue
            same_title = old_sections[i].title == new.title
            if not same_title and not everything:
                continue
            score = similarity(i, j)
            if (score > _PAIR_SIMILARITY if same_title else score >= _MOVE_SIMILARITY) and (
                score > best
            ):
                best, best_i = score, i
        if best_i >= 0:
            take(j, best_i)
    return matched


# --------------------------------------------------------------------------------------------
# Diff
# --------------------------------------------------------------------------------------------


def _as_parsed(doc: str | ParsedGuide, name: str) -> ParsedGuide:
    if isinstance(doc, ParsedGuide):
        return doc
    if isinstance(doc, str):
        return parse_guide(doc)
    raise TypeError(f"{name} must be str or ParsedGuide, not {type(doc).__name__}")


class _Links:
    """A document's URLs at their first occurrence (ParsedGuide.link_urls), by URL."""

    def __init__(self, doc: ParsedGuide) -> None:
        self.doc = doc
        self.urls = doc.link_urls
        self.where = doc.link_where
        self.index = dict(zip(doc.link_urls, range(len(doc.link_urls)), strict=True))

    def section(self, url: str) -> int:
        return self.where[4 * self.index[url]]

    def block(self, url: str) -> int:
        return self.where[4 * self.index[url] + 1]

    def title(self, url: str) -> str:
        return self.doc.link_title(self.index[url])


def _skeleton(text: str, links: Sequence[LinkSpan]) -> str:
    """The text with each link's text replaced by one marker: what is left besides the links."""
    parts, position = [], 0
    for start, end, _ in links:
        parts.append(text[position:start])
        parts.append("\x00")
        position = end
    parts.append(text[position:])
    return "".join(parts)


def diff_guides(old: str | ParsedGuide | None, new: str | ParsedGuide) -> GuideDiff:
    """What changed from `old` to `new` (`old=None` for a guide's first version).

    See the module docstring for the rules; guide.diff's data classes say what each field means.
    """
    if isinstance(old, str) and isinstance(new, str) and old == new:
        return GuideDiff()  # the common "republished without content change" case, for free
    new_doc = _as_parsed(new, "new")
    old_doc = _EMPTY_GUIDE if old is None else _as_parsed(old, "old")
    if old_doc is new_doc:
        return GuideDiff()
    with _collector_paused():
        return _Differ(old_doc, new_doc).run()


class _Differ:
    """One diff: state shared by its steps (section matching, block pairing, links, output)."""

    def __init__(self, old_doc: ParsedGuide, new_doc: ParsedGuide) -> None:
        self.old = old_doc.sections
        self.new = new_doc.sections
        self.match = _match_sections(old_doc, new_doc)  # new index -> old index
        self.old_to_new = {i: j for j, i in self.match.items()}
        # A section is "moved" when its heading path changed, unless it only followed its parent:
        # renaming "Beginner track" moves that one section, not each of its subsections too.
        renamed = {
            (self.old[i].base, self.new[j].base)
            for j, i in self.match.items()
            if self.old[i].base != self.new[j].base
        }
        self.moved: set[int] = set()
        for j, i in self.match.items():
            before, after = self.old[i], self.new[j]
            if before.base == after.base:
                continue
            old_parent = before.base.rpartition(SECTION_SEPARATOR)[0]
            new_parent = after.base.rpartition(SECTION_SEPARATOR)[0]
            if before.title != after.title or (old_parent, new_parent) not in renamed:
                self.moved.add(j)
        self.old_links = _Links(old_doc)
        self.new_links = _Links(new_doc)
        # Blocks that moved to another section with a link: shown by the link's "moved" item.
        self.skip_old: set[tuple[int, int]] = set()
        self.skip_new: set[tuple[int, int]] = set()
        # Per matched section pair whose blocks differ, its aligned blocks.
        self.alignments: dict[int, list[tuple[int | None, int | None]]] = {}
        # Matched sections with the very same blocks and heading links: their links are alike.
        self.identical: set[tuple[int, int]] = set()
        for j, i in self.match.items():
            if self.old[i].block_keys != self.new[j].block_keys:
                self.alignments[j] = _align_blocks(self.old[i], self.new[j])
            elif self.old[i].heading_links == self.new[j].heading_links:
                self.identical.add((i, j))

    # -- links ---------------------------------------------------------------------------

    def link_changes(self) -> tuple[dict[int, list[LinkChange]], dict[int, int]]:
        """Link changes by the new section index they are reported in, and per removed old
        section index the number of its links that left the guide."""
        olds, news = self.old_links, self.new_links
        added = news.index.keys() - olds.index.keys()
        removed = olds.index.keys() - news.index.keys()
        updated: dict[str, str] = {}  # new url -> old url

        def pair(old_url: str, new_url: str) -> None:
            updated[new_url] = old_url
            added.discard(new_url)
            removed.discard(old_url)

        # 1. At the same place in a paired block: same title, else same position among the
        # block's links when both have as many.
        if added and removed:
            for j, alignment in self.alignments.items():
                i = self.match[j]
                for bi, bj in alignment:
                    if bi is None or bj is None:
                        continue
                    lo, ln = self.old[i].block_links[bi], self.new[j].block_links[bj]
                    gone = [x for x in lo if x[2] in removed]
                    came = [x for x in ln if x[2] in added]
                    if not gone or not came:
                        continue
                    old_text, new_text = self.old[i].blocks[bi], self.new[j].blocks[bj]
                    for o in gone:
                        title = old_text[o[0] : o[1]]
                        for x in came:
                            if x[2] in added and o[2] in removed and new_text[x[0] : x[1]] == title:
                                pair(o[2], x[2])
                    if len(lo) == len(ln):
                        for o, x in zip(lo, ln, strict=True):
                            if o[2] in removed and x[2] in added:
                                pair(o[2], x[2])
        # 2. The same title in the same section (in document order).
        if added and removed:
            gone_by_section: defaultdict[int, dict[str, list[str]]] = defaultdict(dict)
            for url in sorted(removed, key=olds.index.__getitem__):
                j = self.old_to_new.get(olds.section(url))
                if j is not None:
                    key = olds.title(url).casefold()
                    gone_by_section[j].setdefault(key, []).append(url)
            for url in sorted(added, key=news.index.__getitem__):
                candidates = gone_by_section.get(news.section(url), {}).get(
                    news.title(url).casefold()
                )
                if candidates:
                    pair(candidates.pop(0), url)

        changes: defaultdict[int, list[LinkChange]] = defaultdict(list)
        old_index, old_where, new_where = olds.index, olds.where, news.where
        old_to_new, identical = self.old_to_new, self.identical
        old_blocks = [section.blocks for section in self.old]
        new_blocks = [section.blocks for section in self.new]
        for k in self.changed_link_range(olds, news):  # document order
            url = news.urls[k]
            sj = new_where[4 * k]
            ok = old_index.get(url)
            if ok is None:
                title = news.doc.link_title(k)
                old_url = updated.get(url)
                if old_url is None:
                    changes[sj].append(LinkChange(LINK_ADDED, url, title))
                else:
                    old_title = olds.title(old_url)
                    changes[sj].append(
                        LinkChange(
                            LINK_UPDATED,
                            url,
                            title,
                            old_url=old_url,
                            old_title=old_title if old_title != title else "",
                        )
                    )
                continue
            o, n = 4 * ok, 4 * k
            si = old_where[o]
            if old_to_new.get(si) == sj:
                bi, bj = old_where[o + 1], new_where[n + 1]
                if (
                    old_where[o + 2] == new_where[n + 2]
                    and old_where[o + 3] == new_where[n + 3]
                    and (
                        (bi == bj and (si, sj) in identical)
                        or (bi >= 0 and bj >= 0 and old_blocks[si][bi] == new_blocks[sj][bj])
                    )
                ):
                    continue  # at the same place in the same text: the same title
            title, old_title = news.doc.link_title(k), olds.doc.link_title(ok)
            if old_to_new.get(si) != sj:
                self.block_moved(si, old_where[o + 1], sj, new_where[n + 1])
                changes[sj].append(
                    LinkChange(
                        LINK_MOVED,
                        url,
                        title,
                        old_title=old_title if old_title != title else "",
                        old_section=self.old[si].key,
                    )
                )
            elif old_title != title:
                changes[sj].append(LinkChange(LINK_RETITLED, url, title, old_title=old_title))
        removed_counts: defaultdict[int, int] = defaultdict(int)
        for url in sorted(removed, key=old_index.__getitem__):
            si = olds.section(url)
            j = old_to_new.get(si)
            if j is None:
                removed_counts[si] += 1
            else:
                changes[j].append(LinkChange(LINK_REMOVED, url, olds.title(url)))
        self.updated = {(o, n) for n, o in updated.items()}
        self.retitled = {
            c.url for cs in changes.values() for c in cs if c.kind != LINK_ADDED and c.old_title
        }
        return changes, removed_counts

    def changed_link_range(self, olds: _Links, news: _Links) -> Iterator[int]:
        """Indices of the new document's URLs that may have changed, in document order.

        URLs are listed at their first occurrence, so each section's are a run of the list; a
        section identical to its old self whose run holds the same URLs as the old section's
        run has nothing to report (each is found first at the same place as before) and is
        skipped whole, so a diff costs little more than its changed sections.
        """
        old_sections = olds.where[0::4]
        new_sections = news.where[0::4]
        k = 0
        total = len(news.urls)
        while k < total:
            sj = new_sections[k]
            end = bisect_right(new_sections, sj, k)
            i = self.match.get(sj)
            if i is not None and (i, sj) in self.identical:
                start_i = bisect_left(old_sections, i)
                end_i = bisect_right(old_sections, i, start_i)
                if olds.urls[start_i:end_i] == news.urls[k:end]:
                    k = end
                    continue
            yield from range(k, end)
            k = end

    def block_moved(self, i: int, bi: int, j: int, bj: int) -> None:
        """A moved link's block: if it left its old section and arrived in the new one
        unchanged, the link's "moved" item says it all; its paragraphs are not shown."""
        if bi < 0 or bj < 0 or self.old[i].block_keys[bi] != self.new[j].block_keys[bj]:
            return
        old_j = self.old_to_new.get(i)
        if old_j is not None and (bi, None) not in self.alignments.get(old_j, ()):
            return  # still there
        if j in self.match and (None, bj) not in self.alignments.get(j, ()):
            return  # was there already
        self.skip_old.add((i, bi))
        self.skip_new.add((j, bj))

    # -- paragraphs ----------------------------------------------------------------------

    def explained(self, j: int, bi: int, bj: int) -> bool:
        """Whether the only changes of a paired block are link changes already reported (a URL
        updated, a link retitled): then no paragraph is shown for it."""
        old, new = self.old[self.match[j]], self.new[j]
        lo, ln = old.block_links[bi], new.block_links[bj]
        if len(lo) != len(ln):
            return False
        if _skeleton(old.blocks[bi], lo) != _skeleton(new.blocks[bj], ln):
            return False
        for (os_, oe, ou), (ns, ne, nu) in zip(lo, ln, strict=True):
            if ou == nu:
                same_title = old.blocks[bi][os_:oe] == new.blocks[bj][ns:ne]
                if not same_title and not (
                    nu in self.retitled
                    and (self.new_links.section(nu), self.new_links.block(nu)) == (j, bj)
                ):
                    return False
            elif (ou, nu) not in self.updated:
                return False
        return True

    def paragraphs(self, j: int) -> list[ParagraphChange]:
        alignment = self.alignments.get(j)
        if not alignment:
            return []
        old, new = self.old[self.match[j]], self.new[j]
        out: list[ParagraphChange] = []
        i = self.match[j]
        for bi, bj in alignment:
            if (i, bi) in self.skip_old or (j, bj) in self.skip_new:
                continue
            if bj is None:
                assert bi is not None
                out.append(
                    ParagraphChange(
                        REMOVED,
                        _whole(DELETE, old.blocks[bi], old.block_links[bi]),
                        code=bi in old.code,
                    )
                )
            elif bi is None:
                out.append(
                    ParagraphChange(
                        ADDED,
                        _whole(INSERT, new.blocks[bj], new.block_links[bj]),
                        code=bj in new.code,
                    )
                )
            elif old.blocks[bi] != new.blocks[bj] and not self.explained(j, bi, bj):
                out.append(
                    ParagraphChange(
                        CHANGED,
                        word_diff(
                            old.blocks[bi], old.block_links[bi], new.blocks[bj], new.block_links[bj]
                        ),
                        code=bj in new.code,
                    )
                )
        return out

    # -- output --------------------------------------------------------------------------

    def run(self) -> GuideDiff:
        changes, removed_counts = self.link_changes()
        old, new = self.old, self.new
        removed_after: defaultdict[int, list[SectionDiff]] = defaultdict(list)  # -1: first
        anchor = -1
        for i, s in enumerate(old):
            j = self.old_to_new.get(i)
            if j is not None:
                anchor = j
            else:
                removed_after[anchor].append(
                    SectionDiff(
                        key=s.key,
                        title=s.title,
                        level=s.level,
                        status=REMOVED,
                        removed_link_count=removed_counts.get(i, 0),
                        removed_paragraph_count=len(s.blocks),
                    )
                )
        result: list[SectionDiff] = list(removed_after.get(-1, ()))
        for j, s in enumerate(new):
            i = self.match.get(j)
            links = changes.get(j, [])
            if i is None:
                status = ADDED
                paragraphs = [
                    ParagraphChange(ADDED, _whole(INSERT, text, spans), code=bj in s.code)
                    for bj, (text, spans) in enumerate(zip(s.blocks, s.block_links, strict=True))
                    if (j, bj) not in self.skip_new
                ]
            else:
                status = MOVED if j in self.moved else CHANGED
                paragraphs = self.paragraphs(j)
            if status != CHANGED or paragraphs or links:
                result.append(
                    self.section(s, status, paragraphs, links, None if i is None else old[i])
                )
            result.extend(removed_after.get(j, ()))
        return GuideDiff(tuple(result))

    def section(
        self,
        s: ParsedSection,
        status: str,
        paragraphs: list[ParagraphChange],
        links: list[LinkChange],
        before: ParsedSection | None,
    ) -> SectionDiff:
        # A link change visible in one of the section's paragraphs is shown there.
        inserted = {sp.href for p in paragraphs for sp in p.spans if sp.op == INSERT and sp.href}
        deleted = {sp.href for p in paragraphs for sp in p.spans if sp.op == DELETE and sp.href}
        if inserted or deleted:
            links = [
                link.shown_in_paragraph()
                if (
                    (link.kind in (LINK_ADDED, LINK_RETITLED) and link.url in inserted)
                    or (link.kind == LINK_REMOVED and link.url in deleted)
                    or (
                        link.kind == LINK_UPDATED
                        and link.url in inserted
                        and link.old_url in deleted
                    )
                )
                else link
                for link in links
            ]
        rewritten = False
        if before is not None and len(paragraphs) >= 2:
            changed = sum(len(sp.text) for p in paragraphs for sp in p.spans if sp.op != EQUAL)
            total = sum(map(len, before.blocks)) + sum(map(len, s.blocks))
            rewritten = 2 * changed >= total
        return SectionDiff(
            key=s.key,
            title=s.title,
            level=s.level,
            status=status,
            paragraphs=tuple(paragraphs),
            links=tuple(links),
            old_key=before.key if status == MOVED and before is not None else "",
            rewritten=rewritten,
        )
