"""CSV import of subscribers: validate the whole file, then write all of it or nothing.

The file is read twice, as a stream, and never held in memory:

1. Validation: every row is checked (address rules, known guide slugs, cadence, shape of the row). Any
   bad row rejects the file with a report of the bad rows (line and reason) and nothing is written.
2. Writing, in one transaction, in chunks of CHUNK_SIZE rows: duplicates (within the file and with
   existing subscribers) merge through the unique email_key, suppressed (erased) addresses are
   skipped and counted, new subscribers are bulk-created.

Columns: `email` (required), `guides` (guide slugs separated by spaces or semicolons; empty means all
guides), `cadence` (every, minor or major; empty means every). The first line names the columns.
Spaces around a cell are ignored. A cell that begins with an apostrophe followed by = + - @ TAB CR or
another apostrophe loses that first apostrophe: the export writes it so that spreadsheets run no
formula (subscriptions/csvcells.py); `'=x@example.org` is the address `=x@example.org`.

Merging: the first row of an address creates the subscriber (empty guides: all guides); each later row
of that address, and every row of an address that is already subscribed, only adds the guides it lists.
An import never changes an existing subscriber's status, cadence or address: an unsubscribed or bounced
subscriber stays so, and a confirmed one keeps their preferences apart from the added guides.

Without consent the new subscribers are pending and get a confirmation mail (enqueued on commit);
with consent (the list owner asserts the addresses agreed elsewhere) they are confirmed right away.
A subscriber who starts following a guide confirmed (a new one of a consented import, or a confirmed
one the file gives a guide) gets the guide's latest published version as their baseline, so their
first release mail shows the change since then (models.BaselineQuerySet.start_following).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import ngettext

from guide.models import Guide
from subscriptions import addresses, exporting, queued_tasks
from subscriptions.csvcells import unprotect
from subscriptions.models import (
    DIGESTS,
    Baseline,
    Cadence,
    ImportJob,
    Subscriber,
    SubscriberEvent,
    SuppressedAddress,
)

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000
# The report keeps this many bad rows and counts the rest, so a million bad rows cost no memory.
MAX_REPORTED_ERRORS = 1000
# No valid row comes near this; a longer line is refused before the csv module buffers it.
MAX_LINE_BYTES = 10_000
COLUMNS = ("email", "guides", "cadence")
# An export's other columns: an import reads past them (it never sets a status, a date or a source,
# which come from the subscriber's own actions) and its result names them.
IGNORED_COLUMNS = tuple(name for name in exporting.COLUMNS if name not in COLUMNS)
SOURCE = "import"
_GUIDE_SEPARATORS = re.compile(r"[\s;,]+")
_BOM = "\ufeff"
# Cadence.values builds a new list on every call. Digests need a slot and a time zone, which a
# file does not give: the reader picks them on the preferences page.
_CADENCES = frozenset(Cadence.values) - DIGESTS


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


@dataclass
class ImportReport:
    """Why a file was rejected: the first MAX_REPORTED_ERRORS bad rows, and how many there were."""

    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    def add(self, line: int, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, reason))

    @property
    def not_shown(self) -> int:
        return self.error_count - len(self.errors)

    def lines(self, limit: int | None = None) -> list[str]:
        """The report as text lines: up to `limit` errors, then "… and K more" if any are left out."""
        shown = self.errors if limit is None else self.errors[:limit]
        more = self.error_count - len(shown)
        return [str(error) for error in shown] + ([f"… and {more} more"] if more else [])

    def summary(self) -> str:
        rows = "bad row" if self.error_count == 1 else "bad rows"
        return f"The file was not imported: {self.error_count} {rows}. Nothing was changed."


class ImportRejected(Exception):
    def __init__(self, report: ImportReport) -> None:
        super().__init__(report.summary())
        self.report = report


@dataclass(frozen=True)
class ImportResult:
    created: int
    merged: int
    suppressed_skipped: int
    rows: int
    ignored_columns: tuple[str, ...] = ()
    # With skip_bad_rows, the rows left out (line and reason); empty otherwise.
    skipped: ImportReport = field(default_factory=ImportReport)


def counted(count: int, singular: str, plural: str) -> str:
    """`count` and the noun that goes with it: "1 row", "2 rows"."""
    return f"{count} {ngettext(singular, plural, count)}"


@dataclass(frozen=True)
class _Row:
    line: int
    address: str
    # None when the guides column is empty: all guides for a new subscriber, none added otherwise.
    guide_ids: frozenset[int] | None
    cadence: str


def _shorten(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


class _Lines:
    """The file's physical lines as text, for csv.reader, decoded one line at a time.

    Decoding line by line (rather than through one TextIOWrapper) lets a non-UTF-8 line be reported
    with its number and the rest of the file still be checked; lines are read with a length cap so
    a file without line breaks cannot be pulled into memory whole.
    """

    def __init__(self, file: BinaryIO, report: ImportReport) -> None:
        self.file = file
        self.report = report
        self.number = 0
        self.last_bad_line = 0  # the latest line that was reported here (rows on it are skipped)

    def __iter__(self) -> Iterator[str]:
        while True:
            raw = self.file.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            self.number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := self.file.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of the over-long line without keeping it
                self._bad(f"the line is longer than {MAX_LINE_BYTES} bytes")
                yield "\n"
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self._bad("not UTF-8 text: save the file as CSV UTF-8")
                yield "\n"
                continue
            if self.number == 1 and text.startswith(_BOM):
                text = text[1:]  # spreadsheet programs start UTF-8 CSV with a byte-order mark
            yield text

    def _bad(self, reason: str) -> None:
        self.report.add(self.number, reason)
        self.last_bad_line = self.number


class _Parser:
    """Turns a file into validated rows; records every problem in `report` instead of raising."""

    def __init__(self, file: BinaryIO, report: ImportReport) -> None:
        self.report = report
        self.lines = _Lines(file, report)
        self.guide_ids = dict(Guide.objects.values_list("slug", "pk"))
        self.rows = 0
        self.ignored: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[_Row]:
        reader = csv.reader(self.lines, strict=True)
        header: list[str] | None = None
        end_of_last_row = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                self.report.add(end_of_last_row + 1, f"not valid CSV ({exc})")
                end_of_last_row = reader.line_num
                continue
            line, end_of_last_row = end_of_last_row + 1, reader.line_num
            if line <= self.lines.last_bad_line:
                continue  # already reported as unreadable
            if not any(value.strip() for value in fields):
                continue  # a blank line, or a spreadsheet's empty row (",,")
            if header is None:
                header = self._header(line, fields)
                if header is None:
                    return  # without the columns, no row can be read
                continue
            self.rows += 1
            row = self._row(line, header, fields)
            if row is not None:
                yield row
        if header is None and not self.report.error_count:
            self.report.add(
                0, "The file is empty: expected a header line (email,guides,cadence) and rows."
            )
        elif header is not None and not self.rows and not self.report.error_count:
            self.report.add(0, "The file has a header but no rows.")

    def _header(self, line: int, fields: list[str]) -> list[str] | None:
        names = [name.strip().lower() for name in fields]
        unknown = [name for name in names if name not in COLUMNS and name not in IGNORED_COLUMNS]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if "email" not in names or unknown or duplicates:
            problems = []
            if "email" not in names:
                problems.append("no 'email' column")
            if unknown:
                problems.append(
                    ngettext("unknown column ", "unknown columns ", len(unknown))
                    + ", ".join(
                        repr(_shorten(n)) if n else "'' (a trailing comma?)" for n in unknown
                    )
                )
            if duplicates:
                problems.append(
                    ngettext("repeated column ", "repeated columns ", len(duplicates))
                    + ", ".join(repr(n) for n in duplicates)
                )
            hint = "the first line must name the columns, e.g. email,guides,cadence"
            if any(sep in "".join(fields) for sep in ";\t|"):
                hint += " (separated by commas)"
            self.report.add(line, f"bad header: {'; '.join(problems)}; {hint}")
            return None
        self.ignored = tuple(name for name in names if name in IGNORED_COLUMNS)
        return names

    def _row(self, line: int, header: list[str], fields: list[str]) -> _Row | None:
        if len(fields) != len(header):
            many = "more" if len(fields) > len(header) else "fewer"
            found = f"{len(fields)} field{'s' if len(fields) != 1 else ''}"
            self.report.add(line, f"{found}, {many} than the {len(header)} columns of the header")
            return None
        # Spaces around a cell mean nothing; then the export's formula guard comes off.
        values = dict(zip(header, (unprotect(field.strip()) for field in fields), strict=True))
        reasons = []
        raw_address = values["email"]
        address = ""
        try:
            address = addresses.normalize_address(raw_address)
        except ValidationError as exc:
            shown = f" {_shorten(raw_address)!r}" if raw_address else ""
            reasons.append(f"address{shown}: {' '.join(exc.messages).rstrip('.')}")
        guide_ids: frozenset[int] | None = None
        slugs = [slug for slug in _GUIDE_SEPARATORS.split(values.get("guides", "")) if slug]
        if slugs:
            unknown = [slug for slug in slugs if slug.lower() not in self.guide_ids]
            if unknown:
                reasons.append(
                    ngettext("unknown guide ", "unknown guides ", len(unknown))
                    + ", ".join(repr(_shorten(slug, 40)) for slug in unknown[:5])
                    + f" (the guides are {', '.join(sorted(self.guide_ids)) or 'none yet'})"
                )
            else:
                guide_ids = frozenset(self.guide_ids[slug.lower()] for slug in slugs)
        cadence = values.get("cadence", "").lower() or Cadence.EVERY
        if cadence not in _CADENCES:
            reasons.append(
                f"cadence {_shorten(cadence, 20)!r}: use every, minor or major (or leave it empty)"
            )
        if reasons:
            self.report.add(line, "; ".join(reasons))
            return None
        return _Row(line=line, address=address, guide_ids=guide_ids, cadence=cadence)


# progress(phase, rows done, rows in all): "checking" (all not known yet: 0), then "writing".
Progress = Callable[[str, int, int], None]


def validate(file: BinaryIO, progress: Progress | None = None) -> tuple[ImportReport, int]:
    """Check every row of a CSV file (binary, read from its current position); write nothing.

    Returns the report (empty when the file is good) and the number of data rows.
    """
    report = ImportReport()
    parser = _Parser(file, report)
    for _row in parser:
        if progress is not None and parser.rows % CHUNK_SIZE == 0:
            progress("checking", parser.rows, 0)
    return report, parser.rows


def import_subscribers(
    file: BinaryIO,
    *,
    consented: bool = False,
    skip_bad_rows: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a CSV file of subscribers: all of it, or nothing (ImportRejected with the report).

    `file` is a binary file object that can seek (an open file, a Django UploadedFile); it is read
    from the start. `consented` makes new subscribers confirmed instead of pending with a confirmation
    mail. `skip_bad_rows` imports the good rows of a file that has bad ones and returns those in
    `skipped`; a file with no good row, or whose header cannot be read, is still rejected whole.
    """
    file.seek(0)
    report, rows = validate(file, progress)
    good_rows = rows - report.error_count
    if report.error_count and not (skip_bad_rows and _rows_readable(report) and good_rows > 0):
        raise ImportRejected(report)

    file.seek(0)
    writer = Writer(consented=consented)
    with transaction.atomic():
        check = ImportReport()
        chunk: list[_Row] = []
        parser = _Parser(file, check)
        for row in parser:
            chunk.append(row)
            if len(chunk) >= CHUNK_SIZE:
                writer.write(chunk)
                chunk = []
                if progress is not None:
                    progress("writing", writer.rows, rows)
        if check.error_count != report.error_count:
            # The file changed between the passes: roll back what this pass wrote.
            raise ImportRejected(check)
        if chunk:
            writer.write(chunk)
    return writer.result(ignored_columns=parser.ignored, skipped=report)


def _rows_readable(report: ImportReport) -> bool:
    """Whether the problems are in rows only (not the header, nor the file as a whole)."""
    return all(error.line and not error.reason.startswith("bad header") for error in report.errors)


def report_csv(report: ImportReport) -> str:
    """The skipped rows as a CSV (line,reason) an admin can download and fix from."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "reason"])
    writer.writerows([error.line, error.reason] for error in report.errors)
    if report.not_shown:
        writer.writerow(["", f"... and {report.not_shown} more"])
    return out.getvalue()


class Writer:
    """Writes validated rows chunk by chunk; keeps only counters between chunks."""

    def __init__(self, *, consented: bool) -> None:
        self.consented = consented
        # One timestamp for the whole import: it also tells the confirmation task which pending
        # subscribers are this import's.
        self.now = timezone.now()
        self.all_guide_ids = frozenset(Guide.objects.values_list("pk", flat=True))
        self.slugs = dict(Guide.objects.values_list("pk", "slug"))
        self.created = self.merged = self.suppressed = self.rows = 0

    def result(
        self, *, ignored_columns: tuple[str, ...] = (), skipped: ImportReport | None = None
    ) -> ImportResult:
        return ImportResult(
            created=self.created,
            merged=self.merged,
            suppressed_skipped=self.suppressed,
            rows=self.rows,
            ignored_columns=ignored_columns,
            skipped=skipped or ImportReport(),
        )

    def write(self, rows: list[_Row]) -> None:
        self.rows += len(rows)
        first: dict[str, _Row] = {}  # email_key -> the chunk's first row of that address
        added: dict[str, set[int]] = {}  # email_key -> guides listed by the chunk's later rows
        count: Counter[str] = Counter()
        for row in rows:
            key = addresses.key(row.address)
            count[key] += 1
            if key not in first:
                first[key] = row
            elif row.guide_ids:
                added.setdefault(key, set()).update(row.guide_ids)

        # One query per chunk for the suppression list, one for the subscribers already there.
        hashes = {addresses.suppression_hash(key): key for key in first}
        for address_hash in SuppressedAddress.objects.filter(
            address_hash__in=list(hashes)
        ).values_list("address_hash", flat=True):
            key = hashes[address_hash]
            self.suppressed += count.pop(key)
            del first[key]
            added.pop(key, None)
        existing = dict(
            Subscriber.objects.filter(email_key__in=list(first)).values_list("email_key", "pk")
        )

        created, raced = self.create_new(
            [(k, row) for k, row in first.items() if k not in existing]
        )
        existing.update(raced)
        listed = [
            (pk, (first[k].guide_ids or frozenset()) | added.get(k, set()))
            for k, pk in existing.items()
        ]
        gained = self._gained(listed)
        self._link_guides(
            [
                (pk, (first[k].guide_ids or self.all_guide_ids) | added.get(k, set()))
                for k, pk in created.items()
            ],
            listed,
        )
        # Baselines for whoever starts following a guide confirmed: the new subscribers of a
        # consented import, and confirmed subscribers the file gives a guide; their first release
        # mail is then the change since the version live today. Pending ones start theirs when they
        # confirm.
        if created and self.consented:
            Baseline.objects.start_following(created.values())
        for guide_id, pks in gained.items():
            Baseline.objects.start_following(pks, [guide_id])
        self._record_events(created.values(), listed)

        self.created += len(created)
        self.merged += sum(count.values()) - len(created)
        if created and not self.consented:
            self._request_confirmations(min(created.values()), max(created.values()))

    def _gained(self, listed: list[tuple[int, frozenset[int]]]) -> dict[int, list[int]]:
        """{guide id: existing subscribers the rows give that guide and who do not follow it yet}."""
        if not any(guide_ids for _pk, guide_ids in listed):
            return {}
        following = set(
            _Through.objects.filter(subscriber_id__in=[pk for pk, _ in listed]).values_list(
                "subscriber_id", "guide_id"
            )
        )
        gained: dict[int, list[int]] = {}
        for pk, guide_ids in listed:
            for guide_id in guide_ids:
                if (pk, guide_id) not in following:
                    gained.setdefault(guide_id, []).append(pk)
        return gained

    def create_new(self, rows: list[tuple[str, _Row]]) -> tuple[dict[str, int], dict[str, int]]:
        """Insert new subscribers: ({email_key: pk} created, {email_key: pk} created by others)."""
        if not rows:
            return {}, {}
        try:
            with transaction.atomic():  # a savepoint, so a conflict below can be retried
                new = Subscriber.objects.bulk_create(
                    self._new_subscriber(k, row) for k, row in rows
                )
            if all(subscriber.pk for subscriber in new):  # the database returned the new pks
                return {subscriber.email_key: subscriber.pk for subscriber in new}, {}
        except IntegrityError:
            # Someone subscribed one of these addresses through the form since the query above:
            # insert the others, and merge into theirs like any existing subscriber.
            new = Subscriber.objects.bulk_create(
                (self._new_subscriber(k, row) for k, row in rows), ignore_conflicts=True
            )
        ours = {subscriber.uid for subscriber in new}
        created, raced = {}, {}
        for key, pk, uid in Subscriber.objects.filter(
            email_key__in=[k for k, _ in rows]
        ).values_list("email_key", "pk", "uid"):
            (created if uid in ours else raced)[key] = pk
        return created, raced

    def _link_guides(
        self,
        new: list[tuple[int, frozenset[int]]],
        existing: list[tuple[int, frozenset[int]]],
    ) -> None:
        # New subscribers have no links yet, so nothing can conflict: one INSERT … SELECT per set
        # of guides (a chunk has a handful) instead of the ORM's per-object cost. Existing
        # subscribers may have some of the links already.
        by_guides: dict[frozenset[int], list[int]] = {}
        for pk, guide_ids in new:
            by_guides.setdefault(guide_ids, []).append(pk)
        for guide_ids, pks in by_guides.items():
            if guide_ids:
                _insert_select(
                    _Through,
                    ["subscriber", "guide"],
                    "SELECT s.id, g.id FROM {subscriber} s CROSS JOIN {guide} g "
                    "WHERE s.id IN ({pks}) AND g.id IN ({guide_ids})",
                    pks=pks,
                    guide_ids=sorted(guide_ids),
                )
        _Through.objects.bulk_create(
            [
                _Through(subscriber_id=pk, guide_id=guide_id)
                for pk, guide_ids in existing
                for guide_id in guide_ids
            ],
            ignore_conflicts=True,
        )

    def _record_events(
        self, new: Iterable[int], existing: list[tuple[int, frozenset[int]]]
    ) -> None:
        kind = SubscriberEvent.Kind.IMPORTED
        detail = (
            "imported with consent" if self.consented else "imported; confirmation mail requested"
        )
        if new := list(new):
            _insert_select(
                SubscriberEvent,
                ["subscriber", "kind", "detail", "created_at"],
                "SELECT s.id, %s, %s, %s FROM {subscriber} s WHERE s.id IN ({pks})",
                [kind, detail, connection.ops.adapt_datetimefield_value(self.now)],
                pks=new,
            )
        events = []
        for pk, guide_ids in existing:
            slugs = " ".join(sorted(self.slugs[guide_id] for guide_id in guide_ids)) or "none"
            events.append(
                SubscriberEvent(
                    subscriber_id=pk, kind=kind, created_at=self.now,
                    detail=f"in an import again; guides listed: {slugs}"[:500],
                )
            )  # fmt: skip
        SubscriberEvent.objects.bulk_create(events)

    def _new_subscriber(self, key: str, row: _Row) -> Subscriber:
        subscriber = Subscriber(
            email=row.address,
            email_key=key,
            cadence=row.cadence,
            source=SOURCE,
            created_at=self.now,
        )
        if self.consented:
            subscriber.status = Subscriber.Status.CONFIRMED
            subscriber.confirmed_at = subscriber.consent_at = self.now
        else:
            subscriber.status = Subscriber.Status.PENDING
            subscriber.confirm_nonce = secrets.token_urlsafe(16)
            subscriber.confirm_sent_at = self.now
        return subscriber

    def _request_confirmations(self, first_pk: int, last_pk: int) -> None:
        # A pk range and the import's timestamp name this chunk's new subscribers in a few bytes:
        # holding their ids until commit would grow with the file.
        queued_tasks.enqueue(
            "subscriptions.tasks.send_import_confirmations",
            first_pk,
            last_pk,
            self.now.isoformat(),
            email_key="",  # no one's: each mail's own row, written by the task, holds its address key
        )


_Through = Subscriber.guides.through


def _insert_select(
    model: type[models.Model],
    fields: list[str],
    select: str,
    params: list | None = None,
    **id_lists: list[int],
) -> None:
    """INSERT INTO model's table (fields) the rows of `select`, a SELECT in SQL.

    For the import's bulk rows (guide links, events): one statement per chunk, where bulk_create
    spends most of an import's time building model objects. In `select`, {subscriber} and {guide}
    name those tables, and each {name} of `id_lists` becomes that many placeholders (after
    `params`). Columns not named get their database default (NULL).
    """
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)
    sql = select.format(
        subscriber=quote(Subscriber._meta.db_table),
        guide=quote(Guide._meta.db_table),
        **{name: ", ".join(["%s"] * len(ids)) for name, ids in id_lists.items()},
    )
    values = [*(params or []), *(i for ids in id_lists.values() for i in ids)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) {sql}",
            values,
        )


def describe(result: ImportResult, name: str, *, consented: bool) -> str:
    """One paragraph saying what an import did, for the admin and the command line."""
    state = "confirmed" if consented else "pending, each sent a confirmation mail"
    message = (
        f"Imported {name}: {counted(result.rows, 'row', 'rows')}, "
        f"{counted(result.created, 'new subscriber', 'new subscribers')} ({state}), "
        f"{counted(result.merged, 'merged into an existing one', 'merged into existing ones')}, "
        + counted(
            result.suppressed_skipped, "skipped as an erased address", "skipped as erased addresses"
        )
        + "."
    )
    if result.skipped.error_count:
        message += " " + counted(result.skipped.error_count, "bad row", "bad rows") + " skipped."
    if result.ignored_columns:
        message += (
            " Columns read past (an import never sets them): "
            + ", ".join(result.ignored_columns)
            + "."
        )
    return message


def progress_key(job_id: int) -> str:
    return f"import-progress:{job_id}"


def run_job(job_id: int) -> str:
    """Run a queued ImportJob: claim it, import its file, store the outcome, delete the file.

    Progress goes to the cache (the import's writes are one transaction, invisible until it ends);
    the job's page reads it. Returns the job's final status ("" if it was not ours to run).
    """
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING
    )
    if not claimed:
        return ""
    job = ImportJob.objects.get(pk=job_id)

    def progress(phase: str, done: int, total: int) -> None:
        cache.set(progress_key(job_id), (phase, done, total), 24 * 3600)

    try:
        with job.file.open("rb") as file:
            result = import_subscribers(
                file, consented=job.consented, skip_bad_rows=job.skip_bad_rows, progress=progress
            )
    except ImportRejected as exc:
        job.status = ImportJob.Status.REJECTED
        job.message = exc.report.summary()
        job.report_lines = exc.report.lines()
    except Exception:
        job.status = ImportJob.Status.FAILED
        job.message = (
            "The import stopped on an error; nothing was written. The worker's log has it."
        )
        logger.exception("import job %s failed", job_id)
    else:
        job.status = ImportJob.Status.DONE
        job.message = describe(result, job.name, consented=job.consented)
        if result.skipped.error_count:
            job.report_lines = result.skipped.lines()
            job.report_csv = report_csv(result.skipped)
    job.finished_at = timezone.now()
    job.save()
    job.file.delete(save=True)
    cache.delete(progress_key(job_id))
    return job.status
