"""Search over the guides: the text of each guide's latest published version, section by section (link
titles included), and the changelog entries of every published version.

One interface, two engines: PostgreSQL's full-text search (a weighted tsvector column generated from
each row, GIN-indexed; websearch syntax, English stemming) in production, SQLite's FTS5 (porter
stemming) under `make run`. Both are kept by the database itself from guide_searchentry rows
(migration 0005), which reindex() rewrites for a guide whenever a version of it is published.

A visitor's query never reaches either engine as syntax: PostgreSQL parses it with
websearch_to_tsquery (any input is valid), and for FTS5 each word becomes a quoted phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from django.db import connection, transaction
from django.utils.safestring import SafeString, mark_safe

from guide.markdown import inline_to_text, text_sections
from guide.models import ChangelogEntry, Guide, SearchEntry, Version

MAX_QUERY_CHARS = 200
# Highlight markers the engines put around matches; control characters a guide cannot contain, so
# escaping the snippet and then turning them into <mark> is safe.
_START, _STOP = "\x02", "\x03"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Hit:
    guide: Guide
    version: Version
    kind: str
    title: str
    anchor: str
    snippet: SafeString  # escaped text with <mark> around the matched words

    @property
    def url(self) -> str:
        if self.kind == SearchEntry.Kind.ENTRY:
            return self.version.get_absolute_url()
        return self.guide.get_absolute_url() + (f"#{self.anchor}" if self.anchor else "")


def reindex(guide: Guide) -> int:
    """Rewrite `guide`'s search rows from its latest published version and its changelogs; return
    how many rows it has now. Runs inside publish()'s transaction, so the index changes with it."""
    with transaction.atomic():
        SearchEntry.objects.filter(guide=guide).delete()
        latest = Version.objects.published().filter(guide=guide).newest_first().first()
        if latest is None:
            return 0
        rows = [
            SearchEntry(
                guide=guide,
                version=latest,
                kind=SearchEntry.Kind.SECTION,
                title=section.title or guide.title,
                anchor=section.anchor,
                body=section.text,
                order=order,
            )
            for order, section in enumerate(text_sections(latest.content))
        ]
        entries = ChangelogEntry.objects.filter(
            version__guide=guide, version__status=Version.Status.PUBLISHED
        ).select_related("version")
        rows += [
            SearchEntry(
                guide=guide,
                version=entry.version,
                kind=SearchEntry.Kind.ENTRY,
                title=f"{guide.title} {entry.version.number}: {entry.get_kind_display()}",
                body=inline_to_text(entry.text),
                order=len(rows) + n,
            )
            for n, entry in enumerate(entries)
        ]
        SearchEntry.objects.bulk_create(rows, batch_size=500)
        return len(rows)


def on_version_published(sender, version: Version, **kwargs) -> None:
    """Receiver of guide.publishing.version_published: the index follows the publish at once."""
    reindex(version.guide)


def search(query: str, *, limit: int = 20) -> list[Hit]:
    """The best `limit` matches for `query`, best first; [] for a query with no words."""
    query = query[:MAX_QUERY_CHARS]
    if not _WORD.search(query):
        return []
    if connection.vendor == "postgresql":
        rows = _search_postgresql(query, limit)
    else:
        rows = _search_sqlite(query, limit)
    entries = SearchEntry.objects.in_bulk([row[0] for row in rows])
    guides = Guide.objects.in_bulk({entry.guide_id for entry in entries.values()})
    versions = Version.objects.in_bulk({entry.version_id for entry in entries.values()})
    hits = []
    for entry_id, snippet in rows:
        entry = entries[entry_id]
        hits.append(
            Hit(
                guide=guides[entry.guide_id],
                version=versions[entry.version_id],
                kind=entry.kind,
                title=entry.title,
                anchor=entry.anchor,
                snippet=_highlight(snippet),
            )
        )
    return hits


def _highlight(snippet: str) -> SafeString:
    marked = escape(snippet).replace(_START, "<mark>").replace(_STOP, "</mark>")
    return mark_safe(marked)  # noqa: S308 - escaped just above; only our markers become tags


def _search_postgresql(query: str, limit: int) -> list[tuple[int, str]]:
    # Ranked on the index alone; ts_headline (which re-parses a row's text) runs for the top rows only.
    sql = f"""
        WITH q AS (SELECT websearch_to_tsquery('english', %s) AS query),
        top AS (
            SELECT e.id, e.title, e.body, ts_rank(e.document, q.query) AS rank
            FROM guide_searchentry e, q WHERE e.document @@ q.query
            ORDER BY rank DESC, e.id LIMIT %s
        )
        SELECT top.id, ts_headline('english', top.body, q.query,
            'StartSel={_START}, StopSel={_STOP}, MaxWords=30, MinWords=12, MaxFragments=1')
        FROM top, q ORDER BY top.rank DESC, top.id
    """  # noqa: S608 - the markers are constants; the query and limit are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [query, limit])
        return list(cursor.fetchall())


def _search_sqlite(query: str, limit: int) -> list[tuple[int, str]]:
    words = _WORD.findall(query)
    match = " ".join('"' + word.replace('"', '""') + '"' for word in words)
    sql = f"""
        SELECT rowid, snippet(guide_searchentry_fts, 1, '{_START}', '{_STOP}', '…', 24)
        FROM guide_searchentry_fts WHERE guide_searchentry_fts MATCH %s
        ORDER BY bm25(guide_searchentry_fts, 4.0, 1.0), rowid LIMIT %s
    """  # noqa: S608 - the markers are constants; the query and limit are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [match, limit])
        return list(cursor.fetchall())
