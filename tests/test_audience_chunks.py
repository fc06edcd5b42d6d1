"""A mailing's audience is written in windows of subscriber ids, so sending starts after the first
window; the audience is still the one of the moment the mailing started, written exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from subscriptions import audience, delivery
from subscriptions.models import Batch, Delivery, Mailing
from tests.conftest import make_subscribers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_windows(settings):
    settings.MAIL_AUDIENCE_CHUNK = 3
    settings.MAIL_BATCH_SIZE = 2


def mailing_of(version) -> Mailing:
    return Mailing.objects.create(version=version)


def test_every_reader_gets_exactly_one_delivery_across_the_windows(guide, v0_9_0, v0_10_0):
    readers = [
        *make_subscribers(guide, "old", 4, baseline=v0_9_0),
        *make_subscribers(guide, "new", 4),
    ]
    mailing = mailing_of(v0_10_0)

    batch_ids = audience.start(mailing.pk)

    rows = Delivery.objects.filter(mailing=mailing)
    assert sorted(rows.values_list("subscriber_id", flat=True)) == sorted(r.pk for r in readers)
    mailing.refresh_from_db()
    assert (mailing.audience_size, mailing.audience_complete) == (8, True)
    assert mailing.audience_cursor == mailing.audience_end == readers[-1].pk
    # Each batch has one baseline and at most MAIL_BATCH_SIZE deliveries; together, every delivery.
    covered = []
    for batch in Batch.objects.filter(pk__in=batch_ids):
        members = list(delivery.batch_deliveries(batch))
        assert len(members) == batch.size <= 2
        assert {d.since_version_id for d in members} == {batch.since_version_id}
        covered += [d.pk for d in members]
    assert sorted(covered) == sorted(rows.values_list("pk", flat=True))


def test_one_window_is_written_per_step_and_the_mailing_is_not_done_before_the_last(
    guide, v0_10_0, mailoutbox
):
    make_subscribers(guide, "reader", 5)
    mailing = mailing_of(v0_10_0)

    first = audience.start_chunk(mailing.pk)
    for batch_id in first.batch_ids:
        delivery.send(batch_id)

    assert first.more
    mailing.refresh_from_db()
    assert (mailing.status, mailing.audience_size) == (Mailing.Status.SENDING, 3)
    assert len(mailoutbox) == 3

    second = audience.start_chunk(mailing.pk)
    for batch_id in second.batch_ids:
        delivery.send(batch_id)

    assert not second.more
    mailing.refresh_from_db()
    assert (mailing.status, mailing.audience_size) == (Mailing.Status.DONE, 5)
    assert sorted(m.to[0] for m in mailoutbox) == [f"reader-{n:02d}@example.org" for n in range(5)]


def test_a_step_run_again_after_the_last_window_writes_nothing(guide, v0_10_0):
    make_subscribers(guide, "reader", 4)
    mailing = mailing_of(v0_10_0)
    audience.start(mailing.pk)

    again = audience.start_chunk(mailing.pk)

    assert (again.batch_ids, again.more) == ([], False)
    assert Delivery.objects.filter(mailing=mailing).count() == 4


def test_readers_who_arrive_or_confirm_after_the_start_are_not_in_this_mailing(guide, v0_10_0):
    early = make_subscribers(guide, "early", 4)
    mailing = mailing_of(v0_10_0)
    audience.start_chunk(mailing.pk)  # the start: the first window is written
    (late,) = make_subscribers(guide, "late", 1)  # subscribes during the writing
    # …and a reader of a later window confirmed only now (resubscribed, say).
    early[3].confirmed_at = timezone.now() + timedelta(seconds=1)
    early[3].save(update_fields=["confirmed_at"])

    audience.start(mailing.pk)

    written = set(Delivery.objects.filter(mailing=mailing).values_list("subscriber_id", flat=True))
    assert written == {s.pk for s in early[:3]}
    assert late.pk not in written


def test_a_cancelled_mailing_stops_writing_its_audience(guide, v0_10_0):
    make_subscribers(guide, "reader", 6)
    mailing = mailing_of(v0_10_0)
    audience.start_chunk(mailing.pk)

    delivery.cancel(mailing.pk)
    step = audience.start_chunk(mailing.pk)

    assert (step.batch_ids, step.more) == ([], False)
    assert Delivery.objects.filter(mailing=mailing).count() == 3


def test_the_sweeper_restarts_an_audience_whose_writing_stopped(guide, v0_10_0, settings):
    make_subscribers(guide, "reader", 5)
    mailing = mailing_of(v0_10_0)
    audience.start_chunk(mailing.pk)  # then its worker died: no next step was enqueued

    assert mailing.pk not in delivery.sweep().mailings  # too recent to call lost
    later = timezone.now() + timedelta(seconds=settings.MAIL_REQUEUE_AFTER_SECONDS + 1)
    assert mailing.pk in delivery.sweep(now=later).mailings

    audience.start(mailing.pk)
    assert Delivery.objects.filter(mailing=mailing).count() == 5


def test_an_empty_audience_ends_the_mailing_at_once(guide, v0_10_0):
    mailing = mailing_of(v0_10_0)

    assert audience.start(mailing.pk) == []

    mailing.refresh_from_db()
    assert (mailing.status, mailing.audience_size) == (Mailing.Status.DONE, 0)
