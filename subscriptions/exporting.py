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
from collections import defaultdict
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
    """The header, then one row per subscriber of `queryset` (default: all of them), in id order.

    Read in chunks of CHUNK_SIZE by id (WHERE id > last ORDER BY id LIMIT n, which the primary key
    serves), each with one guides query. Not a database cursor: outside a transaction Django declares
    it WITH HOLD, and PostgreSQL then materialises the whole result before the first row (seconds
    at a million subscribers); chunks stream from the first one and never hold the table in memory.
    """
    if queryset is None:
        queryset = Subscriber.objects.all()
    # Tuples, and the guides of a chunk in one query of (subscriber, slug): model instances and
    # prefetch_related cost ten times the queries themselves at this size.
    rows = queryset.order_by("pk").values_list(
        "pk", "email", "status", "cadence", "created_at", "confirmed_at", "consent_at", "source"
    )
    through = Subscriber.guides.through.objects
    yield COLUMNS
    last = 0
    while True:
        chunk = list(rows.filter(pk__gt=last)[:CHUNK_SIZE])
        if not chunk:
            return
        slugs: dict[int, list[str]] = defaultdict(list)
        for subscriber_id, slug in through.filter(
            subscriber_id__in=[row[0] for row in chunk]
        ).values_list("subscriber_id", "guide__slug"):
            slugs[subscriber_id].append(slug)
        for pk, email, status, cadence, created_at, confirmed_at, consent_at, source in chunk:
            yield [
                email,
                status,
                cadence,
                " ".join(sorted(slugs.get(pk, ()))),
                _when(created_at),
                _when(confirmed_at),
                _when(consent_at),
                source,
            ]
        last = chunk[-1][0]


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
