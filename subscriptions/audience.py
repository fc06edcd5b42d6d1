"""Who gets a mailing: opening it, and writing its audience as deliveries cut into batches.

A release: `create_mailing(version)` runs inside publish()'s transaction (a `version_published`
receiver), so the Mailing row exists if and only if the publish committed; the start is enqueued on
commit. `start_chunk(mailing_id)` then claims it (pending → sending, fixing started_at and the highest
subscriber id) and writes one window of MAIL_AUDIENCE_CHUNK subscriber ids per call, in one
transaction: one Delivery per recipient (confirmed subscribers of the guide whose cadence includes
the bump, each with their baseline), cut into Batches of MAIL_BATCH_SIZE that share a variant:
the baseline and the reader's filters (subscriptions.filters).

Another app's kind of mailing (access: "new revision" notices) registers an audience function and a
sender (`register_kind`), opens its mailing with `open_mailing` in the transaction that decides it,
and has its whole audience written at once. A kind whose audience is a list (digests) registers a
`window` writer instead: start_chunk then claims and windows it as it does a release's, and the
writer writes each window's deliveries and batches (subscriptions.digests.write_window).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import F, Max, Min
from django.utils import timezone

from guide.models import Version
from mlmw.celery import enqueue
from subscriptions import filters
from subscriptions.ledger import finish_mailing_if_done, table
from subscriptions.models import (
    CADENCE_BUMPS,
    Baseline,
    Batch,
    Delivery,
    Mailing,
    SectionFilter,
    Subscriber,
)
from subscriptions.sending import Outcome

logger = logging.getLogger(__name__)

START_TASK = "subscriptions.tasks.start_mailing"


def create_mailing(version: Version) -> Mailing:
    """Called inside publish()'s transaction; the start is enqueued for after the commit."""
    mailing, _ = Mailing.objects.get_or_create(version=version)
    enqueue(START_TASK, mailing.pk)
    return mailing


def on_version_published(sender, version: Version, **kwargs) -> None:
    """Receiver of guide.publishing.version_published (connected in SubscriptionsConfig.ready)."""
    create_mailing(version)


@dataclass
class StartStep:
    batch_ids: list[int]  # the batches this step wrote, to enqueue
    more: bool  # the audience is not all written yet: run start_chunk again


def start(mailing_id: int) -> list[int]:
    """Write the whole audience of a mailing, chunk after chunk; return every batch id written."""
    batch_ids: list[int] = []
    while True:
        step = start_chunk(mailing_id)
        batch_ids += step.batch_ids
        if not step.more:
            return batch_ids


def start_chunk(mailing_id: int) -> StartStep:
    """Claim a pending mailing (fixing when its audience was taken), then write the deliveries and
    batches of its next window of MAIL_AUDIENCE_CHUNK subscriber ids, in one transaction.

    Chunks let sending begin after the first window instead of after the whole list (at 1M
    recipients, one transaction for every row holds its locks for tens of seconds, half of it the
    deferred foreign-key checks at commit), and keep each transaction short. The audience is fixed
    at the start all the same: subscribers whose id existed then (audience_end) and who were
    confirmed by then (confirmed_at <= started_at); the chunks only decide when each part of it is
    written. Chunks are serialised by the mailing's row lock and each moves audience_cursor in the
    transaction that writes its rows, so a rerun (a redelivered task, the sweeper) continues where
    the last commit left off and never writes a window twice. A registered kind with a `window`
    writer (digests) is windowed the same way, its writer in place of the release's; any other
    registered kind is written whole, at once (_start_whole).
    """
    kind = Mailing.objects.filter(pk=mailing_id).values_list("kind", flat=True).first()
    write = _write_chunk
    if kind is not None and kind != Mailing.Kind.RELEASE:
        registered = _kinds.get(kind)
        window = registered.window if registered is not None else None
        if window is None:
            return StartStep(batch_ids=_start_whole(mailing_id), more=False)
        write = window
    ids = Subscriber.objects.aggregate(first=Min("pk"), last=Max("pk"))
    Mailing.objects.filter(pk=mailing_id, status=Mailing.Status.PENDING).update(
        status=Mailing.Status.SENDING,
        started_at=timezone.now(),
        audience_cursor=(ids["first"] or 1) - 1,
        audience_end=ids["last"] or 0,
        audience_updated_at=timezone.now(),
    )
    with transaction.atomic():
        mailing = (
            Mailing.objects.select_for_update(of=("self",))
            .select_related("version")
            .filter(pk=mailing_id)
            .first()
        )
        if (
            mailing is None
            or mailing.audience_complete
            or mailing.status not in (Mailing.Status.SENDING, Mailing.Status.PAUSED)
        ):
            return StartStep(batch_ids=[], more=False)  # done, cancelled, or not ours
        low = mailing.audience_cursor
        high = min(low + settings.MAIL_AUDIENCE_CHUNK, mailing.audience_end)
        batch_ids, written = write(mailing, low, high)
        complete = high >= mailing.audience_end
        now = timezone.now()
        Mailing.objects.filter(pk=mailing.pk).update(
            audience_cursor=high,
            audience_size=F("audience_size") + written,
            audience_complete=complete,
            audience_updated_at=now,
        )
    if written and mailing.audience_size == 0 and db.vendor == "postgresql":
        # Statistics before any batch is read: until autovacuum gets to the table the planner knows
        # nothing of this mailing's rows and may read a batch through the (mailing, subscriber)
        # index (every row of the mailing) instead of the primary key range. ANALYZE samples a
        # fixed number of rows: ~0.1 s at any size. Once, after the first chunk, is enough.
        with db.cursor() as cursor:
            cursor.execute(f"ANALYZE {table(Delivery)}")
    if complete:
        finish_mailing_if_done(mailing_id)  # an empty audience (or a tail of empty windows)
    logger.info(
        "mailing %s: subscribers %s-%s written, %s recipients, %s batches%s",
        mailing_id, low + 1, high, written, len(batch_ids), "" if complete else ", more to come",
    )  # fmt: skip
    return StartStep(batch_ids=batch_ids, more=not complete)


def _write_chunk(mailing: Mailing, low: int, high: int) -> tuple[list[int], int]:
    """Deliveries for the audience members with low < id <= high, and their batches (per variant,
    consecutive runs of MAIL_BATCH_SIZE by id); returns (batch ids, deliveries written).

    On PostgreSQL one statement does both (the batches are cut from the INSERT's RETURNING, no second
    read of the rows); SQLite (`make run`) has no INSERT inside WITH, so no one statement serves
    both, and there it is two.
    """
    version = mailing.version
    cadences = [c for c, bumps in CADENCE_BUMPS.items() if version.bump_level() in bumps]
    through = Subscriber.guides.through
    placeholders = ", ".join(["%s"] * len(cadences))
    # Baselines at or above this version: someone who started following the guide (confirmed, or
    # gained it) after the publish committed but before this window was written, or whom a newer
    # mailing of the guide already reached (two publishes in quick succession). This version is
    # old news to them; a mail would be empty or, worse, a diff backwards. A handful of ids.
    caught_up = list(Version.objects.at_or_above(version).values_list("pk", flat=True))
    caught_up_placeholders = ", ".join(["%s"] * len(caught_up))
    # Followers of the guide: linked to it, or following all guides (those created later too), as
    # SubscriberQuerySet.following. The filters column is the reader's variant key beside the
    # baseline (filters.key_sql): deliveries are written, and batches cut, per (baseline, filters).
    insert_deliveries = f"""
        INSERT INTO {table(Delivery)}
            (mailing_id, subscriber_id, since_version_id, filters, status, esp_message_id, error)
        SELECT %s, s.id, b.version_id, {filters.key_sql("s", "f")}, %s, '', ''
        FROM {table(Subscriber)} s
        LEFT JOIN {table(Baseline)} b ON b.subscriber_id = s.id AND b.guide_id = %s
        LEFT JOIN {table(SectionFilter)} f ON f.subscriber_id = s.id AND f.guide_id = %s
        WHERE s.id > %s AND s.id <= %s AND s.status = %s AND s.confirmed_at <= %s
          AND s.cadence IN ({placeholders})
          AND (s.all_guides OR EXISTS (
              SELECT 1 FROM {table(through)} sg WHERE sg.subscriber_id = s.id AND sg.guide_id = %s))
          AND (b.version_id IS NULL OR b.version_id NOT IN ({caught_up_placeholders}))
        ORDER BY COALESCE(b.version_id, 0), {filters.key_sql("s", "f")}, s.id
        ON CONFLICT (mailing_id, subscriber_id) DO NOTHING
    """  # noqa: S608 - table names from model metadata, values as parameters
    delivery_params = [
        mailing.pk, Delivery.Status.QUEUED, version.guide_id, version.guide_id,
        low, high, Subscriber.Status.CONFIRMED, mailing.started_at, *cadences, version.guide_id,
        *caught_up,
    ]  # fmt: skip

    def insert_batches(rows: str) -> str:
        return f"""
            INSERT INTO {table(Batch)}
                (mailing_id, since_version_id, filters, first_delivery_id, last_delivery_id,
                 size, status, attempts, last_error, enqueued_at)
            SELECT %s, since, filters, MIN(id), MAX(id), COUNT(*), %s, 0, '', %s
            FROM (
                SELECT id, since_version_id AS since, filters,
                       (ROW_NUMBER() OVER (PARTITION BY since_version_id, filters ORDER BY id) - 1)
                       / %s AS bucket
                FROM {rows}
            ) numbered
            GROUP BY since, filters, bucket
            ORDER BY MIN(id)
        """  # noqa: S608

    batch_params = [mailing.pk, Batch.Status.QUEUED, timezone.now(), settings.MAIL_BATCH_SIZE]

    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            cursor.execute(
                f"WITH written AS ({insert_deliveries} RETURNING id, since_version_id, filters) "
                f"{insert_batches('written')} RETURNING id, size",
                delivery_params + batch_params,
            )
            rows = cursor.fetchall()
        else:
            before = Batch.objects.filter(mailing=mailing).aggregate(last=Max("last_delivery_id"))
            after = before["last"] or 0
            cursor.execute(insert_deliveries, delivery_params)
            cursor.execute(
                insert_batches(
                    f"(SELECT id, since_version_id, filters FROM {table(Delivery)} "  # noqa: S608
                    f"WHERE mailing_id = {int(mailing.pk)} AND id > {int(after)})"
                ),
                batch_params,
            )
            rows = list(
                Batch.objects.filter(mailing=mailing, first_delivery_id__gt=after)
                .order_by("first_delivery_id")
                .values_list("id", "size")
            )
    return [batch_id for batch_id, _size in rows], sum(size for _batch_id, size in rows)


# --- Other kinds of mailing: the same batches, claims, retries, rate and ledger ----------------------
# The sender gets a batch and its queued delivery ids, sends, and returns the Outcome (raising
# SendFailure after recording what already went out, as sending.send_each does). The sweeper,
# pause, resume and cancel work on these mailings as on releases. No baselines are involved.

Sender = Callable[[Batch, list[int]], Outcome]
Audience = Callable[
    [Mailing], list[dict]
]  # a Delivery's fields per recipient, e.g. {"grant_id": 7}
# Writes the deliveries and batches of the audience members with low < subscriber id <= high,
# inside start_chunk's transaction under the mailing's row lock; returns (batch ids, written).
Window = Callable[[Mailing, int, int], tuple[list[int], int]]


@dataclass(frozen=True)
class _Kind:
    audience: Audience | None
    sender: Sender
    window: Window | None = None


_kinds: dict[str, _Kind] = {}


def register_kind(
    kind: str, *, sender: Sender, audience: Audience | None = None, window: Window | None = None
) -> None:
    """A kind of mailing: its sender and either its whole audience (`audience`, written at once)
    or a writer of its audience's windows (`window`, for lists as long as a release's)."""
    if (audience is None) == (window is None):
        raise ValueError("register_kind needs an audience or a window writer, not both")
    _kinds[kind] = _Kind(audience=audience, sender=sender, window=window)


def sender_of(kind: str) -> Sender:
    """The sender a registered kind of mailing gave register_kind."""
    return _kinds[kind].sender


def open_mailing(kind: str, **fields) -> Mailing:
    """A pending mailing of a registered `kind` (with `fields`, e.g. a digest's slot), started on
    commit. Call inside the transaction that
    decides the mailing exists: the row is the outbox, so a start task lost with the broker (or never
    enqueued) is enqueued again by the sweeper after MAIL_REQUEUE_AFTER_SECONDS."""
    mailing = Mailing.objects.create(kind=kind, **fields)
    enqueue(START_TASK, mailing.pk)
    return mailing


def _start_whole(mailing_id: int) -> list[int]:
    """Start a pending mailing of a registered kind: its whole audience (small: grant holders, not a
    list) as deliveries in batches of MAIL_BATCH_SIZE, written in one transaction under the mailing's
    row lock together with the move out of pending, so a rerun (a redelivered task, the sweeper)
    writes nothing twice. Returns the batch ids to enqueue."""
    with transaction.atomic():
        mailing = (
            Mailing.objects.select_for_update()
            .filter(pk=mailing_id, status=Mailing.Status.PENDING)
            .first()
        )
        if mailing is None:
            return []  # started already, or cancelled
        whole = _kinds[mailing.kind].audience
        if whole is None:
            raise ValueError(f"a {mailing.kind} mailing is written in windows (start_chunk)")
        recipients = whole(mailing)
        now = timezone.now()
        rows = Delivery.objects.bulk_create(Delivery(mailing=mailing, **r) for r in recipients)
        ids = sorted(row.pk for row in rows)
        size = settings.MAIL_BATCH_SIZE
        batches = Batch.objects.bulk_create(
            Batch(
                mailing=mailing,
                first_delivery_id=chunk[0],
                last_delivery_id=chunk[-1],
                size=len(chunk),
                enqueued_at=now,
            )
            for chunk in (ids[i : i + size] for i in range(0, len(ids), size))
        )
        Mailing.objects.filter(pk=mailing.pk).update(
            status=Mailing.Status.SENDING if ids else Mailing.Status.DONE,
            audience_size=len(ids),
            audience_complete=True,
            audience_updated_at=now,
            started_at=now,
            finished_at=None if ids else now,
        )
    logger.info("mailing %s: %s recipients, %s batches", mailing_id, len(ids), len(batches))
    return [batch.pk for batch in batches]
