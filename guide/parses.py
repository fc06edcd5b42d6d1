"""Stored parses: a published version's content is parsed once, then loaded.

Parsing dominates the cost of a diff (markdown-it-py reads a 10,000-link guide in 1-3 s), and a
published version's content never changes, so its parse (guide.diff.ParsedGuide) is stored in
ParsedContent, keyed by the SHA-256 of the content, the first time it is needed (at publish, or
the first diff after) and loaded from then on. Drafts are parsed live: their text changes at every
save; guide.diff memoises the last few parses in the process.

Format: a pickle of the ParsedGuide (protocol 5), chosen on measured load time: for the
10,000-link guide of bench/diff_bench.py (2.9 MB) pickle.loads takes about a third of the time of
marshal or pickle of builtin lists rebuilt into dataclasses, and a fifth of compact JSON
(json.loads alone is slower than the whole pickle load); zlib would cut the size by 5 but multiply
the load time by two to three. Sections and the guide pickle as calls of their class with their
field values (their __reduce__), which load a fifth faster than the dataclasses' own state form;
rows in that form load too, so the two forms share a PARSE_FORMAT. Only this module writes the
rows, from text it parsed itself, so nothing untrusted is ever unpickled; a row of another
PARSE_FORMAT (the parse's shape changed) is parsed again and overwritten, never loaded.

Loaded parses are memoised too (a few, by content hash), so a fan-out worker that diffs many
subscribers' baselines against the same version loads each once.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections import OrderedDict
from dataclasses import fields
from threading import Lock

from django.db import IntegrityError, transaction

from guide.diff import Link, ParsedGuide, ParsedSection, parse_guide
from guide.models import ParsedContent, Version

logger = logging.getLogger(__name__)

# Bump on a change of meaning; a change of shape (the parse classes' fields) changes it by itself,
# so a deploy that forgets to bump never loads a row of the old shape.
PARSE_REVISION = 1


def _format() -> int:
    shape = [
        (cls.__name__, [f.name for f in fields(cls)]) for cls in (ParsedGuide, ParsedSection, Link)
    ]
    return (
        zlib.crc32(repr((PARSE_REVISION, shape)).encode()) & 0x7FFF
    )  # a PositiveSmallIntegerField


PARSE_FORMAT = _format()
_MEMO_SIZE = 8

_memo: OrderedDict[str, ParsedGuide] = OrderedDict()
_memo_lock = Lock()


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


def _remember(key: str, parsed: ParsedGuide) -> ParsedGuide:
    with _memo_lock:
        _memo[key] = parsed
        _memo.move_to_end(key)
        while len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
    return parsed


def clear_memo() -> None:
    """Forget loaded parses (benchmarks and tests measure cold loads)."""
    with _memo_lock:
        _memo.clear()


def dumps(parsed: ParsedGuide) -> bytes:
    return parsed.to_bytes()


def loads(data: bytes) -> ParsedGuide:
    # Our own bytes: only store() writes ParsedContent rows, from parse_guide's result.
    return ParsedGuide.from_bytes(data)


def store(content: str) -> ParsedGuide:
    """Parse `content` and store the parse (replacing one of another format); return it."""
    key = content_hash(content)
    parsed = parse_guide(content)
    data = dumps(parsed)
    try:
        with transaction.atomic():
            ParsedContent.objects.update_or_create(
                content_hash=key, defaults={"format": PARSE_FORMAT, "data": data}
            )
    except IntegrityError:
        # Another process stored the same content at the same moment: its row is as good.
        logger.debug("parse %s stored concurrently", key[:12])
    return _remember(key, parsed)


def of_version(version: Version) -> ParsedGuide:
    """A version's content read for diffing: a published version's parse is stored once, keyed by a
    hash of its content, and loaded from then on; a draft's is parsed live (memoised in the process)."""
    return parse_of(version.content, store_it=version.is_published)


def parse_of(content: str, *, store_it: bool = True) -> ParsedGuide:
    """The parse of `content`: memoised, else loaded from its stored row, else parsed (and
    stored, unless store_it is false: a draft's text is parsed live, never stored)."""
    if not store_it:
        return parse_guide(content)
    key = content_hash(content)
    with _memo_lock:
        found = _memo.get(key)
        if found is not None:
            _memo.move_to_end(key)
            return found
    row = (
        ParsedContent.objects.filter(content_hash=key, format=PARSE_FORMAT)
        .values_list("data", flat=True)
        .first()
    )
    if row is not None:
        try:
            return _remember(key, loads(bytes(row)))
        except Exception:  # a row this code cannot read is only a cache miss
            logger.warning("stored parse %s unreadable; parsing again", key[:12], exc_info=True)
    return store(content)
