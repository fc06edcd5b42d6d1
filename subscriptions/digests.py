"""Digests: the daily or weekly mail of what changed, at the reader's hour in their time zone.

A digest goes through the release pipeline's mailings, batches and ledger as a registered kind
(audience.register_kind). Beat runs `open_due` every DIGEST_INTERVAL seconds: when some digest
reader is due, it opens one Mailing for the current slot (the UTC start of its SLOT_MINUTES), and
the slot's unique constraint makes a second opening of it a no-op. A reader is due when one of their
slots (Subscriber.next_digest_at) has passed since `digest_after`.

The audience is written as a release's is (audience.start_chunk): in windows of MAIL_AUDIENCE_CHUNK
subscriber ids, each its own short transaction that moves the mailing's cursor, so memory stays
flat, batches are enqueued as windows land, and a rerun (a redelivered task, the sweeper) goes on
where the last commit left off and writes nothing twice. `write_window` takes the window's readers
due at the mailing's start (started_at) under row locks and moves their `digest_after` to it in the
transaction that writes their deliveries, so each passed slot reaches them once: a concurrent
mailing waits on the locks and then sees the moved digest_after, and a slot missed while beat was
down goes out in the first mailing after it comes back. A window's deliveries are ordered by what
decides a reader's digest (cadence, kinds, baselines, section filters), and batches are consecutive
runs of MAIL_BATCH_SIZE of them, so a batch is mostly one digest.

Each reader's mail holds, per guide they follow, the net change from the version they last received
(their baseline) to the newest published when the mailing started (guide.catchup.catch_up,
narrowed by their filters: subscriptions.filters); a version published during the mailing goes in
the next one, so a batch sent again renders what it rendered the first time. Guides with nothing
new for them are left out; a reader with nothing new anywhere gets no mail (skipped, baselines
unchanged). `send` reads a batch's readers in a fixed number of queries (`parts_of`), renders each
distinct digest once (`render`, cached per process) and sends each group of readers sharing one with
a single ESP call, personal links as merge variables (delivery.send_merged); without merge support
(MAIL_MERGE_PLACEHOLDER empty) one message per reader. Each group's ledger and baseline moves are
written as soon as the ESP answers, and each sent delivery keeps what its digest was made of
(key_of), which its "View in browser" page renders again (subscriptions.digest_mail); a batch whose
outcome was lost (its worker died) asks the ESP what it took before sending
(subscriptions.reconcile), as a release batch does.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db import connection as db
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from guide.catchup import CatchUp
from guide.models import Guide, Version
from subscriptions import delivery, emails, filters, ledger, reconcile, release_mail
from subscriptions.audience import open_mailing
from subscriptions.delivery import Recipient
from subscriptions.filters import Filters
from subscriptions.ledger import table
from subscriptions.models import (
    Baseline,
    Batch,
    Cadence,
    Delivery,
    Mailing,
    SectionFilter,
    Subscriber,
    SubscriberQuerySet,
)
from subscriptions.reading import kinds_from_field, next_slot
from subscriptions.sending import Outcome, send_each

logger = logging.getLogger(__name__)

# Every time zone in use starts its hours on a quarter hour (India +5:30, Nepal +5:45).
SLOT_MINUTES = 15
NOTHING_NEW = "nothing new since the reader's last mail"
NOT_SUBSCRIBED = "not subscribed any more"


def slot_start(now: datetime) -> datetime:
    """The UTC start of the SLOT_MINUTES that `now` is in: a digest mailing's key."""
    return now.replace(minute=now.minute - now.minute % SLOT_MINUTES, second=0, microsecond=0)


def last_slot(now: datetime, *, hour: int, time_zone: str, weekday: int | None) -> datetime:
    """The latest slot at or before `now` (hour in time_zone, on weekday if given)."""
    slot = next_slot(now - timedelta(days=8 if weekday is not None else 2), hour=hour,
                     time_zone=time_zone, weekday=weekday)  # fmt: skip
    while (following := next_slot(slot, hour=hour, time_zone=time_zone, weekday=weekday)) <= now:
        slot = following
    return slot


def due(now: datetime, ids: tuple[int, int] | None = None) -> SubscriberQuerySet:
    """Digest readers with a slot in (digest_after or confirmed_at, now]: one condition per distinct
    slot choice (a few hundred at most), each with that choice's latest slot. `ids` (low, high]
    narrows it to a window of subscriber ids (and the choices read to those of the window)."""
    readers = Subscriber.objects.digest_readers()
    if ids is not None:
        readers = readers.filter(pk__gt=ids[0], pk__lte=ids[1])
    choices = readers.values_list("cadence", "digest_weekday", "digest_hour", "time_zone")
    condition = Q(pk__in=[])
    for cadence, weekday, hour, zone in choices.order_by().distinct():
        weekly = cadence == Cadence.WEEKLY
        on = {"digest_weekday": weekday} if weekly else {}
        latest = last_slot(now, hour=hour, time_zone=zone, weekday=weekday if weekly else None)
        condition |= Q(cadence=cadence, digest_hour=hour, time_zone=zone, **on) & (
            Q(digest_after__lt=latest) | Q(digest_after__isnull=True, confirmed_at__lt=latest)
        )
    return readers.filter(condition)


def open_due(now: datetime | None = None) -> Mailing | None:
    """Open the digest mailing of the current slot if someone is due and it is not open yet."""
    now = now or timezone.now()
    if not due(now).exists():
        return None
    try:
        with transaction.atomic():
            return open_mailing(Mailing.Kind.DIGEST, slot=slot_start(now))
    except IntegrityError:
        return None  # this slot's mailing exists


def write_window(mailing: Mailing, low: int, high: int) -> tuple[list[int], int]:
    """The deliveries and batches of the readers with low < id <= high due at the mailing's start
    (registered with audience.register_kind; runs inside start_chunk's transaction, under the
    mailing's row lock). Returns (batch ids, deliveries written).

    The readers are locked and their digest_after moved to the start in this transaction: a
    concurrent mailing waits on the locks, then sees the moved digest_after, so no reader is in
    two. Each delivery carries its reader's digest key in `filters` (what decides their digest:
    cadence, kinds, guides followed, baselines, section filters); deliveries are written in key
    order and batches cut per key, in runs of at most MAIL_BATCH_SIZE, as a release's are per
    variant, so readers sharing a digest share a batch and mostly one ESP call.
    """
    started = mailing.started_at
    # Confirmed by the start, as a release's audience: the windows only decide when each part of
    # the audience fixed then is written.
    taking = (
        due(started, (low, high))
        .filter(confirmed_at__lte=started)
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    if db.vendor != "postgresql":
        taken = list(taking.values_list("pk", flat=True))
        return _write_window_portably(mailing, taken) if taken else ([], 0)
    # One statement: lock the due readers (FOR UPDATE rechecks the condition on a row another
    # mailing moved meanwhile), move their digest_after, write the deliveries in key order, cut the
    # batches from the INSERT's RETURNING (as audience._write_chunk does for a release). The ids
    # stay in PostgreSQL: a window of 50,000 readers costs the worker nothing. The UPDATE repeats
    # the window's bounds so it reads the subscribers by a primary-key range, not the whole table.
    try:
        locked, locked_params = taking.values("pk").query.sql_with_params()
    except EmptyResultSet:
        return [], 0  # no digest reader in this window
    through = table(Subscriber.guides.through)
    key = f"""
        m.cadence || '|' || m.kinds || '|' || CASE WHEN m.all_guides THEN '*' ELSE COALESCE(
            (SELECT string_agg(CAST(g.guide_id AS text), ',' ORDER BY g.guide_id)
             FROM {through} g WHERE g.subscriber_id = m.id), '') END
        || '|' || COALESCE(
            (SELECT string_agg(b.guide_id || ':' || b.version_id, ',' ORDER BY b.guide_id)
             FROM {table(Baseline)} b WHERE b.subscriber_id = m.id), '')
        || '|' || COALESCE(
            (SELECT string_agg(f.guide_id || ':' || CAST(f.sections AS text), ','
                               ORDER BY f.guide_id)
             FROM {table(SectionFilter)} f WHERE f.subscriber_id = m.id), '')
    """  # noqa: S608 - table names from model metadata
    sql = f"""
        WITH locked (id) AS ({locked}), moved AS (
            UPDATE {table(Subscriber)} s SET digest_after = %s
            FROM locked l WHERE s.id = l.id AND s.id > %s AND s.id <= %s
            RETURNING s.id, s.cadence, s.kinds, s.all_guides
        ), keyed AS (
            SELECT m.id, {key} AS digest FROM moved m
        ), written AS (
            INSERT INTO {table(Delivery)}
                (mailing_id, subscriber_id, since_version_id, filters, status, esp_message_id,
                 error)
            SELECT %s, k.id, NULL, k.digest, %s, '', '' FROM keyed k
            ORDER BY k.digest, k.id
            ON CONFLICT (mailing_id, subscriber_id) DO NOTHING
            RETURNING id, filters
        )
        INSERT INTO {table(Batch)}
            (mailing_id, since_version_id, filters, first_delivery_id, last_delivery_id, size,
             status, attempts, last_error, enqueued_at)
        SELECT %s, NULL, filters, MIN(id), MAX(id), COUNT(*), %s, 0, '', %s
        FROM (
            SELECT id, filters,
                   (ROW_NUMBER() OVER (PARTITION BY filters ORDER BY id) - 1) / %s AS bucket
            FROM written
        ) numbered
        GROUP BY filters, bucket
        ORDER BY MIN(id)
        RETURNING id, size
    """  # noqa: S608 - table names from model metadata, values as parameters
    with db.cursor() as cursor:
        cursor.execute(
            sql,
            [*locked_params, started, low, high, mailing.pk, Delivery.Status.QUEUED, mailing.pk,
             Batch.Status.QUEUED, timezone.now(), settings.MAIL_BATCH_SIZE],
        )  # fmt: skip
        rows = cursor.fetchall()
    rows.sort()
    return [batch_id for batch_id, _size in rows], sum(size for _batch_id, size in rows)


def _write_window_portably(mailing: Mailing, taken: list[int]) -> tuple[list[int], int]:
    """write_window on databases without data-modifying WITH (SQLite: `make run`)."""
    Subscriber.objects.filter(pk__in=taken).update(digest_after=mailing.started_at)
    followed: dict[int, list[str]] = {}
    for subscriber_id, guide_id in (
        Subscriber.guides.through.objects.filter(subscriber_id__in=taken)
        .order_by("guide_id")
        .values_list("subscriber_id", "guide_id")
    ):
        followed.setdefault(subscriber_id, []).append(str(guide_id))
    baselines: dict[int, list[str]] = {}
    for subscriber_id, guide_id, version_id in (
        Baseline.objects.filter(subscriber_id__in=taken)
        .order_by("guide_id")
        .values_list("subscriber_id", "guide_id", "version_id")
    ):
        baselines.setdefault(subscriber_id, []).append(f"{guide_id}:{version_id}")
    sections: dict[int, list[str]] = {}
    for subscriber_id, guide_id, chosen in (
        SectionFilter.objects.filter(subscriber_id__in=taken)
        .order_by("guide_id")
        .values_list("subscriber_id", "guide_id", "sections")
    ):
        sections.setdefault(subscriber_id, []).append(f"{guide_id}:{chosen}")
    keys = {
        pk: "|".join([
            cadence, kinds, "*" if all_guides else ",".join(followed.get(pk, [])),
            ",".join(baselines.get(pk, [])), ",".join(sections.get(pk, [])),
        ])
        for pk, cadence, kinds, all_guides in Subscriber.objects.filter(pk__in=taken).values_list(
            "pk", "cadence", "kinds", "all_guides"
        )
    }  # fmt: skip
    order = sorted(keys, key=lambda pk: (keys[pk], pk))
    written = Delivery.objects.bulk_create(
        Delivery(mailing=mailing, subscriber_id=pk, filters=keys[pk]) for pk in order
    )
    runs: dict[str, list[list[int]]] = {}
    for row in sorted(written, key=lambda row: row.pk):
        chunks = runs.setdefault(row.filters, [[]])
        if len(chunks[-1]) == settings.MAIL_BATCH_SIZE:
            chunks.append([])
        chunks[-1].append(row.pk)
    now = timezone.now()
    batches = Batch.objects.bulk_create(
        Batch(
            mailing=mailing,
            filters=digest,
            first_delivery_id=chunk[0],
            last_delivery_id=chunk[-1],
            size=len(chunk),
            enqueued_at=now,
        )
        for digest, chunks in runs.items()
        for chunk in chunks
    )
    return sorted(batch.pk for batch in batches), len(written)


# --- A reader's digest ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One guide's net change for a reader: from `since_id` to `until_id` under `chosen`."""

    guide_id: int
    since_id: int | None
    until_id: int
    chosen: Filters


@dataclass(frozen=True)
class _Choices:
    """What decides a reader's digest, as read from the database (one reader's, or a batch's)."""

    guide_ids: Iterable[int]
    baselines: dict[int, tuple[int, tuple[int, int, int]]]  # guide -> (version id, its number)
    sections: dict[int, frozenset[str]]
    kinds: frozenset[str] | None


def _parts(choices: _Choices, newest: dict[int, Version]) -> tuple[Part, ...]:
    parts = []
    for guide_id in sorted(choices.guide_ids):
        until = newest.get(guide_id)
        if until is None:
            continue
        since_id, since_number = choices.baselines.get(guide_id, (None, None))
        # At or past the newest (read after a version newer than this mailing's): nothing new.
        if since_number is not None and since_number >= (until.major, until.minor, until.patch):
            continue
        chosen = Filters(choices.kinds, choices.sections.get(guide_id))
        part = Part(guide_id, since_id, until.pk, chosen)
        if changes_of(part) is not None:
            parts.append(part)
    return tuple(parts)


# Asked once per sent reader (their delivery keeps it): an LRU like the renders'.
@lru_cache(maxsize=release_mail.VARIANT_CACHE_SIZE)
def key_of(parts: tuple[Part, ...], cadence: str) -> str:
    """What a digest is made of, as text: its cadence (the label) and each part. Stored on a sent
    digest's delivery (Delivery.digest_parts), so its page renders it again: the reader's baselines
    and filters have moved on since."""

    def chosen(values: frozenset[str] | None) -> list[str] | None:
        return None if values is None else sorted(values)

    return json.dumps(
        [cadence, [[p.guide_id, p.since_id, p.until_id, chosen(p.chosen.kinds),
                    chosen(p.chosen.sections)] for p in parts]],
        separators=(",", ":"),
    )  # fmt: skip


def parts_from_key(key: str) -> tuple[tuple[Part, ...], str]:
    """key_of() read back: (parts, cadence). ValueError when `key` is not one."""
    try:
        cadence, rows = json.loads(key)
        parts = tuple(
            Part(int(guide), None if since is None else int(since), int(until),
                 Filters(None if kinds is None else frozenset(kinds),
                         None if sections is None else frozenset(sections)))
            for guide, since, until, kinds, sections in rows
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise ValueError("not a digest's key") from exc
    return parts, str(cadence)


def page_of(key: str) -> str:
    """The digest's name in its "View in browser" link: a hash of key_of() (short, and no version
    or filter shows in the address)."""
    return hashlib.sha256(key.encode()).hexdigest()[:PAGE_LENGTH]


PAGE_LENGTH = 24


def parts_for(subscriber: Subscriber, newest: dict[int, Version]) -> list[Part]:
    """The guides with something new for the reader, each from their baseline to the newest."""
    guide_ids = (
        list(newest)
        if subscriber.all_guides
        else list(subscriber.guides.values_list("pk", flat=True))
    )
    baselines = {
        guide_id: (version_id, (major, minor, patch))
        for guide_id, version_id, major, minor, patch in subscriber.baselines.values_list(
            "guide_id", "version_id", "version__major", "version__minor", "version__patch"
        )
    }
    kinds = subscriber.kind_set if subscriber.kinds else None
    choices = _Choices(guide_ids, baselines, subscriber.section_choices(), kinds)
    return list(_parts(choices, newest))


def parts_of(subscriber_ids: list[int], newest: dict[int, Version]) -> dict[int, tuple[Part, ...]]:
    """parts_for() of many readers at once, in four queries whatever their number."""
    readers = Subscriber.objects.filter(pk__in=subscriber_ids).values_list(
        "pk", "all_guides", "kinds"
    )
    return _parts_of(list(readers), subscriber_ids, newest)


def _parts_of(
    readers: list[tuple[int, bool, str]], within: Iterable[int] | QuerySet, newest
) -> dict[int, tuple[Part, ...]]:
    """The parts of `readers` ((id, all_guides, kinds) each), their rows read in three queries of
    the subscribers `within` (their ids, or a query of them). Readers who chose alike get the same
    parts: computed once per distinct choice."""
    followed: dict[int, list[int]] = {}
    baselines: dict[int, dict] = {}
    sections: dict[int, dict] = {}
    through = Subscriber.guides.through.objects
    for subscriber_id, guide_id in (
        through.filter(subscriber_id__in=within).order_by().values_list("subscriber_id", "guide_id")
    ):
        followed.setdefault(subscriber_id, []).append(guide_id)
    for subscriber_id, guide_id, version_id, *number in (
        Baseline.objects.filter(subscriber_id__in=within)
        .order_by()
        .values_list("subscriber_id", "guide_id", "version_id", "version__major",
                     "version__minor", "version__patch")
    ):  # fmt: skip
        baselines.setdefault(subscriber_id, {})[guide_id] = (version_id, tuple(number))
    for subscriber_id, guide_id, chosen in (
        SectionFilter.objects.filter(subscriber_id__in=within)
        .order_by()
        .values_list("subscriber_id", "guide_id", "sections")
    ):
        if chosen:
            sections.setdefault(subscriber_id, {})[guide_id] = frozenset(chosen)
    found: dict[int, tuple[Part, ...]] = {}
    alike: dict[tuple, tuple[Part, ...]] = {}
    for pk, all_guides, kinds in readers:
        guide_ids = tuple(sorted(newest if all_guides else followed.get(pk, ())))
        mine, chosen = baselines.get(pk, {}), sections.get(pk, {})
        key = (guide_ids, tuple(sorted(mine.items())), tuple(sorted(chosen.items())), kinds)
        if key not in alike:
            choices = _Choices(guide_ids, mine, chosen, kinds_from_field(kinds) if kinds else None)
            alike[key] = _parts(choices, newest)
        found[pk] = alike[key]
    return found


# Parts repeat across readers (the same baseline, newest and filters): an LRU like the release
# variants', of catch-ups and of whole digests.
@lru_cache(maxsize=release_mail.VARIANT_CACHE_SIZE)
def changes_of(part: Part) -> CatchUp | None:
    changes = filters.narrow(
        release_mail.published_catch_up(part.since_id, part.until_id), part.chosen
    )
    return None if changes is None or changes.is_empty else changes


@lru_cache(maxsize=release_mail.VARIANT_CACHE_SIZE)
def render(parts: tuple[Part, ...], cadence: str) -> emails.RenderedMail:
    """The digest of `parts`, personal fields as markers, cut to fit the size budget."""
    changes = [changes_of(part) for part in parts]
    label = "weekly" if cadence == Cadence.WEEKLY else "daily"
    if len(changes) == 1:
        only = changes[0].until
        subject = release_mail.subject(f"Your {label} digest: {only.guide.title}", only.number, "")
    else:
        subject = f"Your {label} digest: {len(changes)} guides changed"
    markers = {name: release_mail.marker(name) for name in release_mail.PERSONAL_FIELDS}
    # The reader's pages hang under their manage link, as in a release mail: this digest on the
    # web (named by what it is made of, so a preview names it as the send will) and the catch-up.
    page = page_of(key_of(parts, cadence))
    manage = markers["manage_url"]
    markers["view_url"] = manage + emails.under_manage("subscriptions:view_digest", page)
    markers["catch_up_url"] = manage + emails.under_manage("subscriptions:catch_up")

    def contexts():
        for cut in release_mail.cuts():
            guides = [
                {
                    **release_mail.context(c, cut),
                    "filtered": part.chosen.describe(filters.section_titles(c)),
                }
                for part, c in zip(parts, changes, strict=True)
            ]
            yield {
                "subject": subject,
                "label": label,
                "preheader": "; ".join(f"{g['guide'].title}: {g['preheader']}" for g in guides),
                "guides": guides,
                **markers,
            }

    return emails.render_fitting("digest", contexts())


def newest_versions(at: datetime | None = None) -> dict[int, Version]:
    """guide id -> its newest published version (guides with one), of those published by `at` if
    given (a digest mailing's start), in one query."""
    published = Version.objects.published().filter(guide_id=OuterRef("pk"))
    if at is not None:
        published = published.filter(published_at__lte=at)
    newest = Guide.objects.annotate(
        newest=Subquery(published.newest_first().values("pk")[:1])
    ).values("newest")
    return {
        version.guide_id: version
        for version in Version.objects.select_related("guide").filter(pk__in=newest)
    }


@lru_cache(maxsize=4)
def newest_of_mailing(mailing_id: int, started_at: datetime) -> dict[int, Version]:
    """newest_versions() at a digest mailing's start, read once per worker process for all of its
    batches: what was published by then does not change."""
    return newest_versions(started_at)


# --- Sending a batch -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Planned:
    """A reader of the batch with something new: who, and the digest they get."""

    recipient: Recipient
    parts: tuple[Part, ...]
    cadence: str


def send(batch: Batch, queued: list[int]) -> Outcome:
    """Send a digest batch (the registered sender): its readers grouped by the digest they get,
    each group in one ESP call (or one message per reader without merge support); a batch whose
    last outcome is unknown first asks the ESP whom it took. Its queued rows are read again by the
    batch's id range with their readers' fields (cheaper than `queued` as 1000 parameters)."""
    # The batch's rows by its id range (an index range scan), not by 1000 ids as parameters.
    rows = list(
        delivery.batch_deliveries(batch)
        .filter(status=Delivery.Status.QUEUED)
        .order_by("pk")
        .values_list("pk", "subscriber_id", "subscriber__email", "subscriber__uid",
                     "subscriber__status", "subscriber__cadence", "subscriber__all_guides",
                     "subscriber__kinds")
    )  # fmt: skip
    newest = newest_of_mailing(batch.mailing_id, batch.mailing.started_at)
    confirmed = [r for r in rows if r[1] is not None and r[4] == Subscriber.Status.CONFIRMED]
    parts = _parts_of(
        [(r[1], r[6], r[7]) for r in confirmed],
        delivery.batch_deliveries(batch).values("subscriber_id"),
        newest,
    )
    plan: dict[int, _Planned] = {}
    for delivery_id, subscriber_id, address, uid, _status, cadence, *_choices in confirmed:
        if parts[subscriber_id]:
            recipient = Recipient(delivery_id, subscriber_id, address, uid)
            plan[delivery_id] = _Planned(recipient, parts[subscriber_id], cadence)
    kept = {r[0] for r in confirmed}
    gone = [r[0] for r in rows if r[0] not in kept]
    empty = [r[0] for r in confirmed if r[0] not in plan]
    for ids, reason in ((gone, NOT_SUBSCRIBED), (empty, NOTHING_NEW)):
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SKIPPED, error=reason
        )
    total = Outcome(sent={}, failed={})
    if plan and batch.outcome_unknown:
        taken = _reconcile(batch, plan)
        total.sent.update(taken.sent)
    groups: dict[tuple[tuple[Part, ...], str], list[Recipient]] = {}
    for planned in plan.values():
        groups.setdefault((planned.parts, planned.cadence), []).append(planned.recipient)
    for (digest_parts, cadence), recipients in groups.items():
        mail = render(digest_parts, cadence)
        if settings.MAIL_MERGE_PLACEHOLDER:
            outcome = delivery.send_merged(mail, recipients, batch.pk, kind="digest")
        else:
            outcome = send_each(
                _one_per_reader(mail, recipients), record=lambda part: _record(part, plan)
            )
        _record(outcome, plan)
        total.sent.update(outcome.sent)
        total.failed.update(outcome.failed)
    return total


def _one_per_reader(
    mail: emails.RenderedMail, recipients: list[Recipient]
) -> Iterator[tuple[int, EmailMultiAlternatives]]:
    for r, links in zip(recipients, emails.personal_links(recipients), strict=True):
        message = emails.build_message(
            "digest",
            release_mail.fill(mail, links),
            [r.email],
            emails.list_headers(links["unsubscribe_url"]),
        )
        yield r.delivery_id, message


def _record(outcome: Outcome, plan: dict[int, _Planned]) -> None:
    """Write what happened and move the sent readers' baselines to the versions mailed, in one
    transaction (one upsert per guide and version, whatever the number of readers)."""
    if not outcome.sent and not outcome.failed:
        return
    now = timezone.now()
    moves: dict[tuple[int, int], list[int]] = {}
    made_of: dict[int, str] = {}  # a sent delivery -> key_of() its digest, kept for its page
    for delivery_id in outcome.sent:
        planned = plan.get(delivery_id)
        if planned is not None:
            made_of[delivery_id] = key_of(planned.parts, planned.cadence)
            for part in planned.parts:
                key = (part.guide_id, part.until_id)
                moves.setdefault(key, []).append(planned.recipient.subscriber_id)

    def write() -> None:
        with transaction.atomic():
            ledger.mark(outcome, now, made_of)
            for (guide_id, version_id), subscriber_ids in moves.items():
                ledger.move_baselines(subscriber_ids, guide_id, version_id, now)

    ledger.durably(write)


def _reconcile(batch: Batch, plan: dict[int, _Planned]) -> Outcome:
    """The batch's last claim ended without our learning what the ESP took: record sent those it
    took (and take them out of `plan`), so only the others are mailed. Where the ESP cannot tell,
    nothing is recorded and the batch is sent again (docs/delivery.md)."""
    taken = reconcile.accepted(batch.pk, since=batch.mailing.started_at - timedelta(minutes=5))
    outcome = Outcome(sent={}, failed={})
    if taken is None:
        logger.warning("digest batch %s: outcome unknown and the ESP cannot tell; sent again",
                       batch.pk)  # fmt: skip
    else:
        for delivery_id, planned in plan.items():
            address, message_id = taken.get(delivery_id, ("", ""))
            if address.lower() == planned.recipient.email.lower():
                outcome.sent[delivery_id] = message_id
        _record(outcome, plan)
        logger.warning("digest batch %s: outcome unknown; the ESP had taken %s, %s left to send",
                       batch.pk, len(outcome.sent), len(plan) - len(outcome.sent))  # fmt: skip
        for delivery_id in outcome.sent:
            del plan[delivery_id]
    Batch.objects.filter(pk=batch.pk).update(outcome_unknown=False)
    return outcome
