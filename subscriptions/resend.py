"""Sending a release again to everyone of its mailing who did not receive it.

A resend is a Mailing of kind "resend" linked to the original (`resend_of`), with one new Delivery
per recipient (a new attempt: the original's row keeps what happened to it) in batches that are
claimed, sent, retried, reconciled and recorded like any release batch (subscriptions.delivery),
moving baselines the same way. A mailing and its resends are its attempts; a recipient's latest
attempt (the highest delivery id among them) is what happened to them.

Who is taken: recipients whose latest attempt failed, or was skipped because a mailing was
cancelled (never sent), who would get the release if it were published now (confirmed, following
the guide, a cadence that takes its bump: not those who since chose digests or fewer releases),
whose baseline is below the version and who have no newer release of the guide on its way (nobody
gets an older release after a newer one). Never those sent, bounced or unsubscribed, nor anyone
whose latest attempt is still queued (in flight). The batches check status, cadence and baseline
again when they are sent (subscriptions.delivery), as a release's do. The rows are written in
one transaction under the original mailing's row lock, so pressing twice (or two admins at once)
finds the first resend's rows as the latest attempts and writes nobody again.
"""

from __future__ import annotations

import logging
from itertools import groupby

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from guide.models import Version
from mlmw.celery import enqueue
from subscriptions.delivery import CANCELLED
from subscriptions.ledger import table
from subscriptions.models import Baseline, Batch, Delivery, Mailing, Subscriber

logger = logging.getLogger(__name__)

SEND_TASK = "subscriptions.tasks.send_batch"


def attempts(mailing: Mailing) -> list[int]:
    """The ids of a mailing and of its resends, oldest first."""
    return [mailing.pk, *mailing.resends.order_by("pk").values_list("pk", flat=True)]


def latest_attempts(mailing: Mailing, ids: list[int] | None = None) -> QuerySet[Delivery]:
    """Each recipient's latest delivery among a mailing's attempts."""
    ids = ids if ids is not None else attempts(mailing)
    rows = Delivery.objects.filter(mailing_id__in=ids)
    if len(ids) == 1:
        return rows  # no resend: every row is the latest
    later = Delivery.objects.filter(
        mailing_id__in=ids[1:], subscriber_id=OuterRef("subscriber_id"), pk__gt=OuterRef("pk")
    )
    return rows.filter(~Exists(later))


def not_received(mailing: Mailing) -> QuerySet[Delivery]:
    """The latest attempts that a resend takes (see the module's docstring)."""
    version = mailing.version
    caught_up = Version.objects.at_or_above(version).values("pk")
    ahead = Baseline.objects.filter(
        subscriber_id=OuterRef("subscriber_id"), guide_id=version.guide_id, version__in=caught_up
    )
    # A newer release of the guide still on its way to them: this one could arrive after it. Once
    # that one is sent their baseline is past this version, and its diff covers this one.
    newer = Version.objects.at_or_above(version).exclude(pk=version.pk).values("pk")
    overtaken = Delivery.objects.filter(
        subscriber_id=OuterRef("subscriber_id"), status=Delivery.Status.QUEUED
    ).filter(Q(mailing__version__in=newer) | Q(mailing__resend_of__version__in=newer))
    readers = Subscriber.objects.audience_for(version)
    return (
        latest_attempts(mailing)
        .filter(
            Q(status=Delivery.Status.FAILED) | Q(status=Delivery.Status.SKIPPED, error=CANCELLED)
        )
        .filter(subscriber__in=readers.values("pk"))
        .exclude(Exists(ahead))
        .exclude(Exists(overtaken))
    )


def resend(mailing_id: int) -> Mailing | None:
    """Open a resend of a release mailing to whoever did not receive it; None when nobody is left.
    Its batches are enqueued once this commits (the sweeper finds any whose task is lost)."""
    with transaction.atomic():
        original = (
            Mailing.objects.select_for_update(of=("self",))
            .select_related("version")
            .get(pk=mailing_id, kind=Mailing.Kind.RELEASE)
        )
        if not not_received(original).exists():
            return None
        now = timezone.now()
        mailing = Mailing.objects.create(
            kind=Mailing.Kind.RESEND,
            resend_of=original,
            status=Mailing.Status.SENDING,
            audience_complete=True,
            created_at=now,
            started_at=now,
            audience_updated_at=now,
        )
        rows = _write_deliveries(original, mailing)
        batch_ids = _write_batches(mailing, rows, now)
        Mailing.objects.filter(pk=mailing.pk).update(audience_size=len(rows))
        for batch_id in batch_ids:
            enqueue(SEND_TASK, batch_id)
    mailing.audience_size = len(rows)
    logger.info(
        "mailing %s: resend %s to %s recipients, %s batches",
        original.pk, mailing.pk, len(rows), len(batch_ids),
    )  # fmt: skip
    return mailing


def _write_deliveries(original: Mailing, mailing: Mailing) -> list[tuple[int, int | None, str]]:
    """One queued delivery in `mailing` per recipient of not_received(original), since their
    baseline now, with the filters key of their missed attempt, in one INSERT … SELECT; returns
    (delivery id, since version id, filters key) of each."""
    baseline = Baseline.objects.filter(
        subscriber_id=OuterRef("subscriber_id"), guide_id=original.version.guide_id
    ).values("version_id")[:1]
    rows = (
        not_received(original)
        .annotate(since=Subquery(baseline))
        .order_by(Coalesce("since", Value(0)), "filters", "subscriber_id")
        .values_list(
            Value(mailing.pk), "subscriber_id", "since", "filters", Value(Delivery.Status.QUEUED),
            Value(""), Value(""),
        )
    )  # fmt: skip
    sql, params = rows.query.sql_with_params()
    with db.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(Delivery)} (mailing_id, subscriber_id, since_version_id, filters,"
            f" status, esp_message_id, error) {sql} RETURNING id, since_version_id, filters",
            params,
        )
        return cursor.fetchall()


def _write_batches(mailing: Mailing, rows: list[tuple[int, int | None, str]], now) -> list[int]:
    """Batches of MAIL_BATCH_SIZE deliveries sharing a variant (baseline and filters key), as the
    audience cuts them."""
    size = settings.MAIL_BATCH_SIZE
    batches = []
    key = lambda row: (row[1] or 0, row[2], row[0])  # noqa: E731
    for (since, chosen), group in groupby(sorted(rows, key=key), key=lambda row: row[1:]):
        ids = [delivery_id for delivery_id, _, _ in group]
        for chunk in (ids[i : i + size] for i in range(0, len(ids), size)):
            batches.append(
                Batch(
                    mailing=mailing,
                    since_version_id=since,
                    filters=chosen,
                    first_delivery_id=chunk[0],
                    last_delivery_id=chunk[-1],
                    size=len(chunk),
                    enqueued_at=now,
                )
            )
    return [batch.pk for batch in Batch.objects.bulk_create(batches)]
