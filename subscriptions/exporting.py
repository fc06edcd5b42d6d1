"""CSV export of subscribers, streamed: rows are produced as the database hands them over.

The admin serves it through a StreamingHttpResponse and `manage.py export_subscribers` writes it to a
file; neither holds more than one chunk of subscribers. The guides column uses the import's format
(slugs separated by spaces), so the email, guides and cadence columns of an export can be imported
again (the import refuses the other columns).

Every cell goes through `csvcells.protect`: one that begins with = + - @ TAB CR or an apostrophe is
written with an apostrophe before it, so a spreadsheet opening the file runs no formula; the import
removes it again (subscriptions/csvcells.py states the rule).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import QuerySet

from subscriptions.csvcells import protect
from subscriptions.models import Subscriber

CHUNK_SIZE = 2000
COLUMNS = [
    "email",
    "status",
    "cadence",
    "guides",
    "created_at",
    "confirmed_at",
    "consent_at",
    "source",
]


def _when(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def iter_csv_rows(queryset: QuerySet[Subscriber] | None = None) -> Iterator[list[str]]:
    """The header, then one row per subscriber of `queryset` (default: all of them)."""
    if queryset is None:
        queryset = Subscriber.objects.order_by("pk")  # index order: the database need not sort
    # With chunk_size, prefetch_related runs once per chunk: one guides query per 2000 subscribers,
    # on SQLite and PostgreSQL alike, and never the whole table in memory.
    subscribers = queryset.prefetch_related("guides").iterator(chunk_size=CHUNK_SIZE)
    yield COLUMNS
    for subscriber in subscribers:
        yield [
            subscriber.email,
            subscriber.status,
            subscriber.cadence,
            " ".join(sorted(guide.slug for guide in subscriber.guides.all())),
            _when(subscriber.created_at),
            _when(subscriber.confirmed_at),
            _when(subscriber.consent_at),
            subscriber.source,
        ]


class _Line:
    """A write-only "file" that hands back what csv.writer writes, so rows become text one by one."""

    def write(self, value: str) -> str:
        return value


def iter_csv_text(
    rows: Iterable[list[str]] | None = None, *, batch: int = 500, bom: bool = False
) -> Iterator[str]:
    """The CSV text of `rows` (default: every subscriber), in pieces of `batch` lines.

    Every cell is protected here, where values become the file, so no column can be forgotten.
    `bom` starts the file with a UTF-8 byte-order mark, without which Excel reads UTF-8 as ANSI
    (the importer takes it off again).
    """
    writer = csv.writer(_Line())
    lines: list[str] = ["\ufeff"] if bom else []
    for row in iter_csv_rows() if rows is None else rows:
        lines.append(writer.writerow([protect(value) for value in row]))
        if len(lines) >= batch:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)
