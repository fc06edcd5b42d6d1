"""A digest batch whose worker died after Mailgun took it is reconciled with Mailgun before anything
is sent again, as a release batch is: nobody gets their digest twice, nobody is left out, and the
ledger and baselines say what was sent. Where the ESP cannot tell (MAIL_RECONCILE=off here, SMTP
in production) the batch is sent again whole: at most one batch per pool process per incident.
Real workers on Redis and PostgreSQL, the fake Mailgun on 127.0.0.1 (tests/test_fanout_faults.py's
stack); the digest is due now, by the real clock."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from subscriptions import digests
from subscriptions.models import Baseline, Batch, Delivery, Mailing, Subscriber
from subscriptions.tasks import sweep_mailings
from tests.conftest import make_subscribers
from tests.esp import esp_worker_env, held
from tests.fanout import SHORT_LEASE, batch_of
from tests.services import wait_for

pytestmark = [pytest.mark.worker]

CONCURRENCY = 2
BATCH_SIZE = 5  # esp_worker_env's MAIL_BATCH_SIZE


@pytest.fixture
def readers(v0_9_0, v0_10_0):
    """25 readers of a daily digest due now (their hour is this one, UTC), last mailed 0.9.0."""
    readers = make_subscribers(v0_9_0.guide, "reader", 25, baseline=v0_9_0)
    now = timezone.now()
    Subscriber.objects.filter(pk__in=[r.pk for r in readers]).update(
        cadence="daily",
        digest_hour=now.hour,
        time_zone="UTC",
        confirmed_at=now - timedelta(days=3),
        digest_after=now - timedelta(days=2),
    )
    return readers


def kill_after_the_esp_took_two_digest_batches(fake_esp, start_worker, **env):
    """Both pool processes are inside a digest batch's ESP call when the worker is killed; the ESP
    then takes both calls and nobody hears its answer. A new worker takes over."""
    fake_esp.script([("hold",), ("hold",)])
    env = esp_worker_env(fake_esp, TEST_ANYMAIL_REQUESTS_TIMEOUT=4, **SHORT_LEASE, **env)
    worker = start_worker(concurrency=CONCURRENCY, **env)
    mailing = digests.open_due()
    assert mailing is not None
    in_flight = held(fake_esp, 2)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    fake_esp.release()
    wait_for(lambda: all(a.accepted for a in in_flight), what="the ESP to take both batches")
    start_worker(concurrency=CONCURRENCY, **env)
    stuck = [batch_of(mailing, attempt.to) for attempt in in_flight]
    lease = timedelta(seconds=SHORT_LEASE["MAIL_BATCH_LEASE_SECONDS"])
    wait_for(
        lambda: (
            Batch.objects.filter(
                pk__in=[b.pk for b in stuck],
                status="sending",
                claimed_at__lt=timezone.now() - lease,
            ).count()
            == 2
        ),
        what="the killed batches' lease to run out",
    )
    sweep_mailings.delay()
    wait_for(lambda: Mailing.objects.filter(pk=mailing.pk, status="done").exists(),
             what="the digest mailing to finish")  # fmt: skip
    return mailing, in_flight


def test_a_worker_killed_after_mailgun_took_its_digest_batches_sends_nobody_twice(
    fake_esp, start_worker, readers, v0_10_0
):
    mailing, in_flight = kill_after_the_esp_took_two_digest_batches(fake_esp, start_worker)

    assert sorted(fake_esp.recipients()) == sorted(r.email for r in readers)  # 0 missing
    assert fake_esp.duplicate_recipients() == {}  # 0 duplicates: the ESP was asked
    for attempt in in_flight:
        for row in Delivery.objects.filter(mailing=mailing, subscriber__email__in=attempt.to):
            assert (row.status, row.esp_message_id) == ("sent", attempt.batch.message_id)
        batch = batch_of(mailing, attempt.to)
        assert (batch.status, batch.last_error, batch.outcome_unknown) == (
            "done", "lease expired", False,
        )  # fmt: skip
    # Everyone's baseline moved to what their digest carried, the reconciled ones too.
    assert set(
        Baseline.objects.filter(subscriber__in=readers).values_list("version", flat=True)
    ) == {v0_10_0.pk}


def test_where_the_esp_cannot_tell_a_killed_digest_worker_sends_at_most_one_batch_per_process_twice(
    fake_esp, start_worker, readers
):
    mailing, in_flight = kill_after_the_esp_took_two_digest_batches(
        fake_esp, start_worker, MAIL_RECONCILE="off"
    )

    assert sorted(set(fake_esp.recipients())) == sorted(r.email for r in readers)  # 0 missing
    twice = {address: 2 for attempt in in_flight for address in attempt.to}
    assert fake_esp.duplicate_recipients() == twice
    assert len(twice) == CONCURRENCY * BATCH_SIZE
    statuses = set(Delivery.objects.filter(mailing=mailing).values_list("status", flat=True))
    assert statuses == {"sent"}
