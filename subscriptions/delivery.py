"""Sending a mailing's batches, once each: claim, send, record, retry, and the sweeper that finds
what a crash or a broker flush lost; and operating a mailing (pause, resume, cancel, progress).

- `send(batch_id)`: the `send_batch` task's work, from `claim` to closing the batch.
- `sweep()`: what a dead worker or a flushed broker left, handed back to be enqueued again.
- `pause`, `resume`, `cancel`, `progress`, `esp_wait`: the admin's operations and figures.

The steps of publish → inbox, one function each: docs/ARCHITECTURE.md; what each decides and
guarantees: docs/delivery.md.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection as db
from django.db import transaction
from django.db.models import Count, F, Max, Min, OuterRef, Q, Subquery
from django.utils import timezone

from guide.models import Version
from mlmw.celery import DATABASE_ERRORS
from subscriptions import emails, filters, ledger, reconcile, release_mail, throttle
from subscriptions.audience import sender_of
from subscriptions.exceptions import SendFailure
from subscriptions.models import CADENCE_BUMPS, Baseline, Batch, Delivery, Mailing, Subscriber
from subscriptions.sending import Outcome, classify, send_each

logger = logging.getLogger(__name__)

# The error of a delivery skipped because its mailing was cancelled: never sent, so a resend takes it.
CANCELLED = "mailing cancelled"


def send(batch_id: int) -> float | None:
    """Send one batch. Returns None when finished with it, or seconds to wait before a retry."""
    batch = claim(batch_id)
    if batch is None:
        return None
    try:
        return _send_claimed(batch)
    except DATABASE_ERRORS:
        # The connection was lost before the ESP call, or after the ledger was written (a lost
        # ledger write raises OutcomeUnknown instead): hand the batch back at once, on a new
        # connection, rather than leave it to its lease. The task is retried (DATABASE_RETRY).
        _hand_back(batch)
        raise


def _send_claimed(batch: Batch) -> float | None:
    if batch.attempts > settings.MAIL_BATCH_MAX_ATTEMPTS and not _within_wait(batch):
        # Claimed again and again without finishing (its worker keeps dying, or something
        # unexpected keeps failing): stop, so the mailing ends and nothing is resent forever. A
        # batch the ESP keeps answering "not now" is bounded by MAIL_GIVE_UP_AFTER instead.
        _give_up(batch, f"gave up after {batch.attempts - 1} attempts")
        _finish(batch)
        return None
    mailing = batch.mailing
    if not mailing.sends_a_release:
        return _send_registered(batch)
    release = mailing.release_version
    deliveries, skipped = _recipients(batch, release)
    for reason, ids in skipped.items():
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SKIPPED, error=reason
        )
    variant = release_mail.render_variant(batch.since_version_id, release.pk, batch.filters)
    if variant is None:
        # Nothing for these readers' filters: no mail, and their baselines stay, so their next
        # mail carries this release too.
        batch_deliveries(batch).filter(status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SKIPPED, error=filters.NOTHING_MATCHES
        )
        _finish(batch)
        return None
    return _attempt(batch, len(deliveries), lambda: send_release(batch, deliveries, variant))


def claim(batch_id: int) -> Batch | None:
    """Take the batch for this worker, or None if it is not ours to send (done, claimed, paused)."""
    claimed = Batch.objects.filter(
        pk=batch_id, status=Batch.Status.QUEUED, mailing__status=Mailing.Status.SENDING
    ).update(status=Batch.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1)
    if not claimed:
        return None
    # A resend's original (Mailing.release_version) is read when needed: few mailings are resends,
    # and every batch would pay for joining it.
    return Batch.objects.select_related("mailing__version__guide").get(pk=batch_id)


def batch_deliveries(batch: Batch):
    """The deliveries a batch covers: its mailing, its variant (baseline and filters), its id range
    (an index range scan)."""
    return Delivery.objects.filter(
        mailing_id=batch.mailing_id,
        id__gte=batch.first_delivery_id,
        id__lte=batch.last_delivery_id,
        since_version_id=batch.since_version_id,
        filters=batch.filters,
    )


@dataclass(frozen=True, slots=True)
class Recipient:
    """What sending needs of one delivery and its subscriber: read as plain values, not model
    instances (building 2000 of those costs a seventh of a batch's time)."""

    delivery_id: int
    subscriber_id: int
    email: str
    uid: uuid.UUID


# Why a delivery is skipped when its reader changed after the audience was written.
NOT_SUBSCRIBED = "not subscribed any more"
NOT_CHOSEN = "their cadence no longer takes this release (digests, or fewer releases)"
OVERTAKEN = (
    "another mail of the guide reached them first (or they marked it read); "
    "folded into their next mail"
)


def _recipients(batch: Batch, release: Version) -> tuple[list[Recipient], dict[str, list[int]]]:
    """The batch's queued deliveries to send, and the ids of those to skip by reason: no longer
    confirmed; their cadence no longer takes this release; their baseline moved since the audience
    was written.

    The audience was written when the mailing (or the resend) started; a batch may be sent hours
    later. A reader who meanwhile chose digests or a cadence without this release's bump is not sent
    it (their cadence is a column of the row already read). Who stopped following the guide is
    left out when the audience is written, not here: that check is a lookup per recipient (+0.02
    CPU s per 1000 recipients in PostgreSQL, bench/fanout.py) for a change rarer than a cadence's.

    A reader's baseline moves when another mail of the guide reaches them (two mailings of a guide
    overlapping, a digest, a resend) or when they mark it read: this batch's variant, rendered from
    their old baseline, would then repeat what they saw or arrive after a newer release. They get
    nothing now and their next mail starts from where they are.
    """
    queued = list(
        batch_deliveries(batch)
        .filter(status=Delivery.Status.QUEUED)
        .order_by("id")
        .values_list("id", "subscriber_id")
    )
    # The readers by their ids, not joined to the deliveries: for a join the planner may walk the
    # subscriber index from its start to the batch's last id (every batch reads more of it).
    baseline = Baseline.objects.filter(
        subscriber_id=OuterRef("pk"), guide_id=release.guide_id
    ).values("version_id")[:1]
    readers = {
        pk: rest
        for pk, *rest in Subscriber.objects.filter(
            pk__any_of=[subscriber_id for _, subscriber_id in queued if subscriber_id is not None]
        ).values_list("pk", "email", "uid", "status", Subquery(baseline), "cadence")
    }
    cadences = {c for c, bumps in CADENCE_BUMPS.items() if release.bump_level() in bumps}
    send: list[Recipient] = []
    skip: dict[str, list[int]] = {}
    for delivery_id, subscriber_id in queued:
        reader = readers.get(subscriber_id)
        if reader is None or reader[2] != Subscriber.Status.CONFIRMED:
            skip.setdefault(NOT_SUBSCRIBED, []).append(delivery_id)
        elif reader[4] not in cadences:
            skip.setdefault(NOT_CHOSEN, []).append(delivery_id)
        elif reader[3] != batch.since_version_id:
            skip.setdefault(OVERTAKEN, []).append(delivery_id)
        else:
            send.append(Recipient(delivery_id, subscriber_id, reader[0], reader[1]))
    return send, skip


def send_release(batch: Batch, deliveries: list[Recipient], variant: emails.RenderedMail) -> None:
    """Send a release batch's recipients its variant and record what happened."""
    rest = _reconcile(batch, deliveries) if batch.outcome_unknown else deliveries
    if not rest:
        return
    mailing = batch.mailing
    if settings.MAIL_MERGE_PLACEHOLDER:
        outcome = send_merged(variant, rest, batch.pk)
    else:
        outcome = send_each(
            _one_per_recipient(variant, rest),
            record=lambda partial: _record(mailing.pk, partial, rest),
        )
    _record(mailing.pk, outcome, rest)


def send_merged(
    variant: emails.RenderedMail, deliveries: list[Recipient], batch_id: int, kind: str = "release"
) -> Outcome:
    """One ESP call for the whole batch (or for a digest batch's readers who share a digest),
    personal fields through the ESP's merge variables. The batch id travels as a message-wide
    variable, each delivery id as a recipient's: what the ESP can be asked about later
    (subscriptions.reconcile)."""
    message = emails.build_message(
        kind,
        release_mail.fill(variant, release_mail.merge_placeholders()),
        [d.email for d in deliveries],
        emails.list_headers(None),  # List-Unsubscribe is each recipient's: merge_headers
    )
    merge_data, merge_headers, merge_metadata = {}, {}, {}
    for d, links in zip(deliveries, emails.personal_links(deliveries), strict=True):
        merge_data[d.email] = links
        merge_headers[d.email] = {
            "List-Unsubscribe": emails.unsubscribe_header(links["unsubscribe_url"])
        }
        merge_metadata[d.email] = {reconcile.DELIVERY_VARIABLE: str(d.delivery_id)}
    message.merge_data = merge_data
    message.merge_headers = merge_headers
    message.merge_metadata = merge_metadata
    message.metadata = {reconcile.BATCH_VARIABLE: str(batch_id)}
    try:
        with get_connection() as connection:
            message.connection = connection
            message.send()
    except AnymailRecipientsRefused:
        # Every recipient refused (invalid or suppressed at the ESP): permanent for each.
        # The exception's text names the addresses: keep only what happened, never the address.
        return Outcome(sent={}, failed={d.delivery_id: "refused by the ESP" for d in deliveries})
    except (AnymailAPIError, OSError) as exc:
        raise classify(exc) from exc
    statuses = message.anymail_status.recipients
    sent, failed = {}, {}
    for d in deliveries:
        status = statuses.get(d.email)
        if status is not None and status.status in {"rejected", "invalid", "failed"}:
            failed[d.delivery_id] = f"ESP status {status.status}"
        else:
            sent[d.delivery_id] = (status.message_id if status else None) or ""
    return Outcome(sent=sent, failed=failed)


def _one_per_recipient(
    variant: emails.RenderedMail, deliveries: list[Recipient]
) -> Iterator[tuple[int, EmailMessage]]:
    """One message per recipient (SMTP): the variant's markers filled with each one's links."""
    for d, links in zip(deliveries, emails.personal_links(deliveries), strict=True):
        yield d.delivery_id, release_mail.personal_message(variant, links, d.email)


def _record(mailing_id: int, outcome: Outcome, deliveries: Iterable[Recipient]) -> None:
    """Write what happened to these deliveries and move the baselines of the sent ones forward."""
    if not outcome.sent and not outcome.failed:
        return
    now = timezone.now()
    by_id = {d.delivery_id: d for d in deliveries}

    def write() -> None:
        with transaction.atomic():
            ledger.mark(outcome, now)
            mailing = Mailing.objects.select_related("version", "resend_of__version").get(
                pk=mailing_id
            )
            version = mailing.release_version
            sent = [by_id[i].subscriber_id for i in outcome.sent if i in by_id]
            ledger.move_baselines(sent, version.guide_id, version.pk, now)

    ledger.durably(write)


def _reconcile(batch: Batch, deliveries: list[Recipient]) -> list[Recipient]:
    """The recipients of a batch whose last outcome is unknown that the ESP did not take: the
    ones it took are recorded sent (with its message ids) first. All of them where the ESP cannot
    tell; SendFailure (retry later, nothing sent) when it did not answer."""
    taken = reconcile.accepted(batch.pk, since=batch.mailing.started_at - timedelta(minutes=5))
    if taken is None:
        logger.warning("batch %s: outcome unknown and the ESP cannot tell; sent again", batch.pk)
    else:
        sent = {
            d.delivery_id: taken[d.delivery_id][1]
            for d in deliveries
            if d.delivery_id in taken and taken[d.delivery_id][0].lower() == d.email.lower()
        }
        _record(batch.mailing_id, Outcome(sent=sent, failed={}), deliveries)
        deliveries = [d for d in deliveries if d.delivery_id not in sent]
        logger.warning(
            "batch %s: outcome unknown; the ESP had taken %s, %s left to send",
            batch.pk, len(sent), len(deliveries),
        )  # fmt: skip
    Batch.objects.filter(pk=batch.pk).update(outcome_unknown=False)
    return deliveries


def _send_registered(batch: Batch) -> float | None:
    queued = list(
        batch_deliveries(batch)
        .filter(status=Delivery.Status.QUEUED)
        .order_by("id")
        .values_list("id", flat=True)
    )

    def send_and_record() -> None:
        outcome = sender_of(batch.mailing.kind)(batch, queued)
        now = timezone.now()

        def write() -> None:
            with transaction.atomic():
                ledger.mark(outcome, now)

        ledger.durably(write)

    return _attempt(batch, len(queued), send_and_record)


# --- Retries, giving up, closing a batch ----------------------------------------------------------


def _attempt(batch: Batch, count: int, send_and_record: Callable[[], None]) -> float | None:
    """What sending a claimed batch of any kind of mailing shares: the global send rate, a retry
    with backoff or giving up on errors, and closing the batch. None when done with the batch, or
    seconds to wait before the retry that has been arranged (its task is enqueued by the caller)."""
    try:
        if count:
            wait = throttle.acquire(count)  # the global send rate
            if wait:
                # Not an attempt: waiting for the send rate must not use up MAIL_BATCH_MAX_ATTEMPTS.
                _release(batch, "send rate limit", countdown=wait, attempted=False)
                return wait
            send_and_record()
    except SendFailure as exc:
        if exc.permanent:
            _give_up(batch, str(exc))
            _finish(batch)
            return None
        now = timezone.now()
        since = batch.waiting_since or now
        if not _out_of_time(batch, since, now):
            wait = exc.retry_after or backoff(batch.attempts)
            # The ESP's "slow down" (429, SMTP 421) is waiting, not an attempt. In-process (no
            # broker) a retry cannot wait, so there every answer counts.
            attempted = not exc.throttled or settings.CELERY_TASK_ALWAYS_EAGER
            _release(
                batch,
                str(exc),
                countdown=wait,
                attempted=attempted,
                waiting_since=since,
                outcome_unknown=exc.unknown,
            )
            return wait
        _give_up(batch, f"{exc} (still after {_duration((now - since).total_seconds())})")
    _finish(batch)
    return None


def _out_of_time(batch: Batch, since, now) -> bool:
    """Whether a batch the ESP keeps answering "not now" is given up: after MAIL_GIVE_UP_AFTER
    seconds of such answers (hours: an ESP outage or a long rate limit is waited out), or, where a
    retry cannot wait (in-process, no broker), after MAIL_BATCH_MAX_ATTEMPTS attempts."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return batch.attempts >= settings.MAIL_BATCH_MAX_ATTEMPTS
    return (now - since).total_seconds() >= settings.MAIL_GIVE_UP_AFTER


def _within_wait(batch: Batch) -> bool:
    """The batch is waiting out the ESP's "not now" answers, within MAIL_GIVE_UP_AFTER."""
    if batch.waiting_since is None or settings.CELERY_TASK_ALWAYS_EAGER:
        return False
    return not _out_of_time(batch, batch.waiting_since, timezone.now())


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: 0..min(cap, base·2^attempt) seconds."""
    ceiling = min(settings.MAIL_RETRY_MAX_SECONDS, settings.MAIL_RETRY_BASE_SECONDS * 2**attempt)
    return max(1.0, random.uniform(0, ceiling))  # noqa: S311 - jitter, not security


def _release(
    batch: Batch,
    error: str,
    *,
    countdown: float,
    attempted: bool = True,
    waiting_since=None,
    outcome_unknown: bool = False,
) -> None:
    Batch.objects.filter(pk=batch.pk, status=Batch.Status.SENDING).update(
        status=Batch.Status.QUEUED,
        claimed_at=None,
        last_error=error[:2000],
        enqueued_at=timezone.now() + timedelta(seconds=countdown),
        **({} if attempted else {"attempts": F("attempts") - 1}),  # give claim()'s count back
        **({} if waiting_since is None else {"waiting_since": waiting_since}),
        **({"outcome_unknown": True} if outcome_unknown else {}),
    )
    logger.warning("batch %s: %s; retry in %.0fs", batch.pk, error, countdown)


def _give_up(batch: Batch, error: str) -> None:
    batch_deliveries(batch).filter(status=Delivery.Status.QUEUED).update(
        status=Delivery.Status.FAILED, error=error[:500]
    )
    Batch.objects.filter(pk=batch.pk).update(last_error=error[:2000])
    logger.error("batch %s failed for good: %s", batch.pk, error)


def _finish(batch: Batch) -> None:
    now = timezone.now()
    Batch.objects.filter(pk=batch.pk, status=Batch.Status.SENDING).update(
        status=Batch.Status.DONE, finished_at=now
    )
    ledger.finish_mailing_if_done(batch.mailing_id)


def _hand_back(batch: Batch) -> None:
    db.close()
    try:
        _release(batch, "database connection lost", countdown=0, attempted=False)
    except DATABASE_ERRORS as exc:
        logger.warning(
            "batch %s: left to its lease, the database is still away (%s)", batch.pk, exc
        )


# --- The sweeper ----------------------------------------------------------------------------------


@dataclass
class Sweep:
    mailings: list[int]
    batches: list[int]


def sweep(now=None) -> Sweep:
    """Find work a crash or a broker flush lost, and hand back the ids to enqueue again."""
    now = now or timezone.now()
    lease = timedelta(seconds=settings.MAIL_BATCH_LEASE_SECONDS)
    lost_after = timedelta(seconds=settings.MAIL_REQUEUE_AFTER_SECONDS)
    # A cancelled mailing sends nothing more: what a dead worker or a retry left of it is settled.
    _settle_cancelled(now - lease)
    # A worker died (or was killed) while sending: its lease ran out.
    expired = list(
        Batch.objects.filter(status=Batch.Status.SENDING, claimed_at__lt=now - lease)
        .exclude(mailing__status=Mailing.Status.CANCELLED)
        .values_list("pk", flat=True)
    )
    if expired:
        # Still expired: another sweep may have re-queued one meanwhile and a worker claimed it
        # again; re-queueing that fresh claim would let a second worker send it too.
        Batch.objects.filter(
            pk__in=expired, status=Batch.Status.SENDING, claimed_at__lt=now - lease
        ).update(
            status=Batch.Status.QUEUED,
            claimed_at=None,
            last_error="lease expired",
            enqueued_at=now,
            outcome_unknown=True,  # it may have reached the ESP: the next claim asks first
        )
    # Queued, but its task never ran (broker flushed, enqueue failed).
    lost = list(
        Batch.objects.filter(
            status=Batch.Status.QUEUED,
            mailing__status=Mailing.Status.SENDING,
            enqueued_at__lt=now - lost_after,
        ).values_list("pk", flat=True)
    )
    Batch.objects.filter(pk__in=lost).update(enqueued_at=now)
    # Not started, or its audience half written (the chunk's task lost): start_chunk again.
    mailings = list(
        Mailing.objects.filter(
            Q(status=Mailing.Status.PENDING, created_at__lt=now - lost_after)
            | Q(
                status__in=[Mailing.Status.SENDING, Mailing.Status.PAUSED],
                audience_complete=False,
                audience_updated_at__lt=now - lost_after,
            )
        ).values_list("pk", flat=True)
    )
    for mailing_id in Mailing.objects.filter(status=Mailing.Status.SENDING).values_list(
        "pk", flat=True
    ):
        ledger.finish_mailing_if_done(mailing_id)
    return Sweep(mailings=mailings, batches=sorted(set(expired) | set(lost)))


def _settle_cancelled(lease_ended) -> None:
    """Cancel the batches of cancelled mailings that no worker will send, and skip their queued
    deliveries, as cancel() does for the batches it finds queued. cancel() leaves a batch being sent
    to finish; if its worker died instead (lease ended) or a transient error released it (queued),
    nothing else would ever move its deliveries out of "queued"."""
    left = Batch.objects.filter(mailing__status=Mailing.Status.CANCELLED).filter(
        Q(status=Batch.Status.QUEUED) | Q(status=Batch.Status.SENDING, claimed_at__lt=lease_ended)
    )
    for batch in left:
        with transaction.atomic():
            if Batch.objects.filter(pk=batch.pk, status=batch.status).update(
                status=Batch.Status.CANCELLED, claimed_at=None
            ):
                batch_deliveries(batch).filter(status=Delivery.Status.QUEUED).update(
                    status=Delivery.Status.SKIPPED, error=CANCELLED
                )


# --- Operating a mailing (admin) ---------------------------------------------------------------------


def pause(mailing_id: int) -> bool:
    """Stop claiming batches; a batch already being sent finishes."""
    return bool(
        Mailing.objects.filter(pk=mailing_id, status=Mailing.Status.SENDING).update(
            status=Mailing.Status.PAUSED
        )
    )


def resume(mailing_id: int) -> list[int]:
    """Continue a paused mailing; returns the queued batch ids to enqueue again."""
    with transaction.atomic():
        if not Mailing.objects.filter(pk=mailing_id, status=Mailing.Status.PAUSED).update(
            status=Mailing.Status.SENDING
        ):
            return []
        queued = Batch.objects.filter(mailing_id=mailing_id, status=Batch.Status.QUEUED)
        ids = list(queued.values_list("pk", flat=True))
        queued.update(enqueued_at=timezone.now())
    return ids


def cancel(mailing_id: int) -> bool:
    """Stop for good: queued deliveries are skipped; a batch being sent finishes."""
    with transaction.atomic():
        if not Mailing.objects.filter(
            pk=mailing_id,
            status__in=[Mailing.Status.PENDING, Mailing.Status.SENDING, Mailing.Status.PAUSED],
        ).update(status=Mailing.Status.CANCELLED, finished_at=timezone.now()):
            return False
        Batch.objects.filter(mailing_id=mailing_id, status=Batch.Status.QUEUED).update(
            status=Batch.Status.CANCELLED
        )
        Delivery.objects.filter(mailing_id=mailing_id, status=Delivery.Status.QUEUED).exclude(
            pk__in=_in_sending_batches(mailing_id)
        ).update(status=Delivery.Status.SKIPPED, error=CANCELLED)
    return True


def _in_sending_batches(mailing_id: int) -> list[int]:
    ids: list[int] = []
    for batch in Batch.objects.filter(mailing_id=mailing_id, status=Batch.Status.SENDING):
        ids.extend(batch_deliveries(batch).values_list("pk", flat=True))
    return ids


@dataclass(frozen=True)
class EspWait:
    """Batches of a mailing waiting out the ESP's errors or rate limit (for the admin)."""

    batches: int
    since: datetime  # the first "not now" answer of the longest wait
    until: datetime  # the last of their retries is due then
    error: str  # the ESP's latest answer


def esp_wait(mailing_id: int) -> EspWait | None:
    waiting = Batch.objects.filter(
        mailing_id=mailing_id, status=Batch.Status.QUEUED, waiting_since__isnull=False
    )
    found = waiting.aggregate(n=Count("id"), since=Min("waiting_since"), until=Max("enqueued_at"))
    if not found["n"]:
        return None
    error = waiting.order_by("-enqueued_at").values_list("last_error", flat=True).first()
    return EspWait(found["n"], found["since"], found["until"], error or "")


def progress(mailing_id: int) -> dict[str, int]:
    """Deliveries per status, for the admin."""
    counts = dict(
        Delivery.objects.filter(mailing_id=mailing_id)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in Delivery.Status.values}
