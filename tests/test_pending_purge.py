"""An address nobody confirmed is deleted with its history PENDING_RETENTION_DAYS (30) after its
last confirmation mail, by a job on the beat schedule; confirmed and unsubscribed ones stay."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from subscriptions.lifecycle import record
from subscriptions.models import Subscriber, SubscriberEvent
from subscriptions.tasks import purge_pending_subscribers


def subscriber(email: str, status: str, age_days: int, mailed_days_ago: int | None = None):
    now = timezone.now()
    row = Subscriber.objects.create(
        email=email, email_key=email, status=status, created_at=now - timedelta(days=age_days),
        confirmed_at=now if status == "confirmed" else None,
        confirm_sent_at=None if mailed_days_ago is None else now - timedelta(days=mailed_days_ago),
    )  # fmt: skip
    record(row, SubscriberEvent.Kind.SUBSCRIBED, "via form")
    return row


def test_pending_addresses_idle_for_30_days_are_deleted_with_their_events(db):
    subscriber("old@example.org", "pending", age_days=31, mailed_days_ago=31)
    subscriber("never-mailed@example.org", "pending", age_days=31)
    subscriber("asked-again@example.org", "pending", age_days=90, mailed_days_ago=2)
    subscriber("young@example.org", "pending", age_days=29, mailed_days_ago=29)
    subscriber("confirmed@example.org", "confirmed", age_days=400, mailed_days_ago=400)
    subscriber("left@example.org", "unsubscribed", age_days=400, mailed_days_ago=400)

    assert purge_pending_subscribers.apply().get() == 2

    assert set(Subscriber.objects.values_list("email", flat=True)) == {
        "asked-again@example.org",
        "young@example.org",
        "confirmed@example.org",
        "left@example.org",
    }
    assert SubscriberEvent.objects.count() == 4


def test_the_purge_is_on_the_beat_schedule_that_the_clock_also_runs():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-pending-subscribers"]
    assert entry["task"] == "subscriptions.tasks.purge_pending_subscribers"
    from mlmw.celery import app

    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
