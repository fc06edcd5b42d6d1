"""The release fan-out under faults: ESP errors, a killed worker, a flushed broker.

The same real stack as tests/test_fanout_worker.py (a `celery worker` process on the real Redis
broker and PostgreSQL, anymail's Mailgun backend posting to the fake Mailgun on 127.0.0.1), with
the fake scripted to fail on cue. What these tests establish, and docs/ARCHITECTURE.md states:

- Every recipient of a mailing gets the release at least once, unless their batch failed for good
  (a permanent 4xx, or MAIL_GIVE_UP_AFTER of transient errors: tests/test_fanout_esp_waits.py):
  those deliveries are `failed`.
- A recipient gets it twice only when an ESP call whose outcome the worker never learned (the
  connection dropped after the ESP accepted it, a client timeout after the ESP queued it, or the
  worker died between the ESP's answer and the commit that records it) is sent again: at most the
  recipients of that one batch, once per such attempt.
- A worker killed while the ESP has not accepted its batch, and a broker flushed while batches are
  queued or being sent, cost no mail and duplicate none: the sweeper re-enqueues the batch once
  its lease (MAIL_BATCH_LEASE_SECONDS) ran out or its task has not run for
  MAIL_REQUEUE_AFTER_SECONDS, and finishes the mailing.
"""

from __future__ import annotations

import math
import os
import signal
import time
from datetime import timedelta
from email.utils import formatdate
from pathlib import Path

import pytest
import redis
from django.utils import timezone

from guide import publishing
from subscriptions import lifecycle
from subscriptions.models import Baseline, Batch, Delivery, Mailing
from subscriptions.tasks import sweep_mailings
from tests.conftest import make_subscribers
from tests.esp import esp_worker_env, held
from tests.fanout import SHORT_LEASE, batch_of
from tests.services import TEST_REDIS_URL, wait_for

pytestmark = [pytest.mark.worker]

BATCH_SIZE = 5  # esp_worker_env's MAIL_BATCH_SIZE
QUEUE = "mlmw"  # CELERY_TASK_DEFAULT_QUEUE: the Redis list the tasks wait in


@pytest.fixture
def readers(draft):
    return make_subscribers(draft.guide, "reader", 25)


def publish(version) -> Mailing:
    publishing.publish(version)
    return Mailing.objects.get(version=version)


def finished(mailing: Mailing) -> Mailing:
    return wait_for(
        lambda: Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.DONE).first(),
        what=f"the mailing of {mailing.version} to finish",
    )


def addresses(subscribers) -> list[str]:
    return sorted(s.email for s in subscribers)


def all_sent_once(esp, mailing: Mailing, readers) -> None:
    assert sorted(esp.recipients()) == addresses(readers)
    assert esp.duplicate_recipients() == {}
    assert esp.shared_batches == []
    statuses = set(Delivery.objects.filter(mailing=mailing).values_list("status", flat=True))
    assert statuses == {Delivery.Status.SENT}


# --- Transient ESP errors: retried with backoff, Retry-After honoured ---------------------------------


def test_a_5xx_is_retried_after_a_backoff_and_everyone_gets_one_mail(
    fake_esp, start_worker, draft, readers
):
    fake_esp.script([("status", 500)])
    start_worker(**esp_worker_env(fake_esp))

    mailing = finished(publish(draft))

    all_sent_once(fake_esp, mailing, readers)
    failed, *others = fake_esp.attempts
    assert failed.status == 500 and not failed.accepted
    assert len(others) == math.ceil(25 / BATCH_SIZE) and all(a.status == 200 for a in others)
    [retry] = [a for a in others if a.to == failed.to]
    # Backoff with jitter: at least MAIL_RETRY_BASE_SECONDS (1 s) after the 500.
    assert retry.received_at - failed.received_at >= 1.0
    batch = batch_of(mailing, failed.to)
    assert (batch.status, batch.attempts, batch.last_error) == ("done", 2, "ESP answered 500")
    assert set(Batch.objects.exclude(pk=batch.pk).values_list("attempts", flat=True)) == {1}


@pytest.mark.parametrize("form", ["delay-seconds", "http-date"])
def test_a_429_is_retried_no_earlier_than_its_retry_after(
    fake_esp, start_worker, draft, readers, form
):
    # Retry-After (3 s, or a date ~5 s ahead) is longer than the longest backoff
    # (MAIL_RETRY_MAX_SECONDS=2): it wins.
    not_before = time.time() + 6
    retry_after = "3" if form == "delay-seconds" else formatdate(not_before, usegmt=True)
    fake_esp.script([("status", 429, {"Retry-After": retry_after})])
    start_worker(**esp_worker_env(fake_esp))

    mailing = finished(publish(draft))

    all_sent_once(fake_esp, mailing, readers)
    limited = fake_esp.attempts[0]
    assert limited.status == 429
    [retry] = [a for a in fake_esp.attempts[1:] if a.to == limited.to]
    if form == "delay-seconds":
        assert retry.received_at - limited.received_at >= 3.0
    else:
        assert retry.received_at >= int(not_before)  # the date has whole seconds
    assert batch_of(mailing, limited.to).attempts == 1  # a rate limit is waiting, not an attempt


@pytest.mark.parametrize("esp_took_it", [False, True], ids=["never-queued", "queued-late"])
def test_a_call_that_times_out_is_retried(fake_esp, start_worker, draft, readers, esp_took_it):
    # The ESP answers after 6 s; the client gives up after 1 s. The retry (1-2 s later) asks the
    # ESP what it took (nothing yet: it queues the batch only at 6 s) and sends the batch again.
    then = "ok" if esp_took_it else ("status", 503)
    fake_esp.script([("hang", 6, then)])
    start_worker(**esp_worker_env(fake_esp, TEST_ANYMAIL_REQUESTS_TIMEOUT=1))
    mailing = publish(draft)

    finished(mailing)
    slow = fake_esp.attempts[0]
    batch = batch_of(mailing, slow.to)
    assert batch.attempts == 2
    assert batch.last_error.startswith("no answer from the ESP: ReadTimeout")
    [retry] = [a for a in fake_esp.attempts[1:] if a.to == slow.to]
    assert retry.status == 200 and retry.received_at - slow.received_at >= 1.0
    wait_for(lambda: slow.status is not None, what="the slow answer")  # the ESP's end of it
    if not esp_took_it:
        all_sent_once(fake_esp, mailing, readers)
    else:
        # The at-least-once window: that batch's recipients got it twice, nobody else did.
        assert fake_esp.duplicate_recipients() == {address: 2 for address in slow.to}
        assert sorted(set(fake_esp.recipients())) == addresses(readers)


def test_a_permanent_error_fails_that_batch_without_a_retry_and_the_mailing_goes_on(
    fake_esp, start_worker, draft, readers
):
    fake_esp.script([("status", 400, {}, {"message": "'to' parameter is not a valid address"})])
    start_worker(**esp_worker_env(fake_esp))

    mailing = finished(publish(draft))

    refused, *others = fake_esp.attempts
    assert refused.status == 400
    assert len(others) == math.ceil(25 / BATCH_SIZE) - 1  # no retry of the refused batch
    assert all(a.status == 200 and a.to != refused.to for a in others)
    batch = batch_of(mailing, refused.to)
    assert (batch.status, batch.attempts) == (Batch.Status.DONE, 1)
    assert "ESP answered 400" in batch.last_error
    failed = Delivery.objects.filter(mailing=mailing, status=Delivery.Status.FAILED)
    assert sorted(failed.values_list("subscriber__email", flat=True)) == sorted(refused.to)
    assert all("not a valid address" in row.error for row in failed)
    sent = [r for r in readers if r.email not in refused.to]
    assert sorted(fake_esp.recipients()) == addresses(sent)
    assert fake_esp.duplicate_recipients() == {}
    assert Delivery.objects.filter(mailing=mailing, status=Delivery.Status.SENT).count() == 20


def test_an_accepted_batch_whose_answer_is_lost_is_not_sent_again_mailgun_says_it_took_it(
    fake_esp, start_worker, draft, readers
):
    fake_esp.script([("ok_then_drop",)])
    start_worker(**esp_worker_env(fake_esp))

    mailing = finished(publish(draft))

    dropped = fake_esp.attempts[0]
    assert dropped.accepted and dropped.status is None
    # The retry asked the events API first (subscriptions.reconcile): all five were taken.
    all_sent_once(fake_esp, mailing, readers)
    batch = batch_of(mailing, dropped.to)
    assert (batch.attempts, batch.outcome_unknown) == (2, False)
    assert batch.last_error.startswith("no answer from the ESP: ConnectionError")
    rows = Delivery.objects.filter(mailing=mailing, subscriber__email__in=dropped.to)
    assert set(rows.values_list("esp_message_id", flat=True)) == {dropped.batch.message_id}


def test_where_the_esp_cannot_tell_an_accepted_batch_whose_answer_is_lost_is_sent_twice(
    fake_esp, start_worker, draft, readers
):
    fake_esp.script([("ok_then_drop",)])
    start_worker(**esp_worker_env(fake_esp, MAIL_RECONCILE="off"))

    mailing = finished(publish(draft))

    dropped = fake_esp.attempts[0]
    assert dropped.accepted and dropped.status is None
    # The documented at-least-once window, bounded by one batch: the ESP had it, the worker never
    # heard so, and sent it again.
    assert fake_esp.duplicate_recipients() == {address: 2 for address in dropped.to}
    assert len(dropped.to) == BATCH_SIZE
    assert sorted(set(fake_esp.recipients())) == addresses(readers)
    batch = batch_of(mailing, dropped.to)
    assert batch.attempts == 2
    assert batch.last_error.startswith("no answer from the ESP: ConnectionError")
    statuses = set(Delivery.objects.filter(mailing=mailing).values_list("status", flat=True))
    assert statuses == {Delivery.Status.SENT}


# --- A worker killed mid-mailing ---------------------------------------------------------------------


def pool_processes(worker) -> list[int]:
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    return [int(pid) for pid in children]


@pytest.mark.parametrize("killed", ["whole-worker", "pool-processes"])
def test_a_worker_killed_mid_mailing_loses_no_mail_and_sends_none_twice(
    fake_esp, start_worker, draft, readers, killed
):
    # Both pool processes are stuck in an ESP call that never gets an answer; three batches wait
    # on the broker. Then the worker dies: SIGKILL, no chance to clean up.
    fake_esp.script([("hold", ("status", 503)), ("hold", ("status", 503))])
    env = esp_worker_env(fake_esp, TEST_ANYMAIL_REQUESTS_TIMEOUT=4, **SHORT_LEASE)
    worker = start_worker(**env)
    mailing = publish(draft)
    in_flight = held(fake_esp, 2)
    broker = redis.Redis.from_url(TEST_REDIS_URL)
    wait_for(lambda: broker.llen(QUEUE) == 3, what="three batches waiting on the broker")
    stuck = [batch_of(mailing, attempt.to) for attempt in in_flight]
    assert {b.status for b in stuck} == {Batch.Status.SENDING}

    if killed == "whole-worker":
        os.killpg(worker.pid, signal.SIGKILL)  # the main process and its pool: the host died
        worker.wait()
        start_worker(**env)  # a new worker takes the three queued batches
    else:
        for pid in pool_processes(worker):
            os.kill(pid, signal.SIGKILL)  # the main process hands the two tasks back, re-run: no-op

    # The two batches the dead processes had claimed stay `sending` until their lease runs out;
    # then the sweeper (beat's task, run by the worker) re-enqueues them.
    expired = timedelta(seconds=SHORT_LEASE["MAIL_BATCH_LEASE_SECONDS"])
    wait_for(
        lambda: (
            Batch.objects.filter(
                pk__in=[b.pk for b in stuck],
                status=Batch.Status.SENDING,
                claimed_at__lt=timezone.now() - expired,
            ).count()
            == 2
        ),
        what="the killed batches' lease to run out",
    )
    assert Batch.objects.filter(mailing=mailing, status=Batch.Status.DONE).count() == 3
    sweep_mailings.delay()
    finished(mailing)

    all_sent_once(fake_esp, mailing, readers)
    for batch in stuck:
        batch.refresh_from_db()
        assert (batch.status, batch.attempts, batch.last_error) == ("done", 2, "lease expired")
    assert len([a for a in fake_esp.attempts if a.accepted]) == 5  # the held two never were


# --- Redis flushed mid-mailing -----------------------------------------------------------------------


def test_a_broker_flushed_mid_mailing_loses_no_mail_and_sends_none_twice(
    fake_esp, start_worker, draft, readers
):
    fake_esp.script([("hold",), ("hold",)])
    start_worker(
        **esp_worker_env(fake_esp, TEST_ANYMAIL_REQUESTS_TIMEOUT=30, MAIL_REQUEUE_AFTER_SECONDS=1)
    )
    mailing = publish(draft)
    in_flight = held(fake_esp, 2)
    broker = redis.Redis.from_url(TEST_REDIS_URL)
    wait_for(lambda: broker.llen(QUEUE) == 3, what="three batches waiting on the broker")

    broker.flushdb()  # the queued tasks, and the claimed ones' unacked copies, are gone
    fake_esp.release()

    claimed = [batch_of(mailing, attempt.to) for attempt in in_flight]
    wait_for(
        lambda: Batch.objects.filter(pk__in=[b.pk for b in claimed], status="done").count() == 2,
        what="the two batches being sent to finish",
    )
    lost = Batch.objects.filter(mailing=mailing, status=Batch.Status.QUEUED)
    assert lost.count() == 3
    wait_for(
        lambda: lost.filter(enqueued_at__lt=timezone.now() - timedelta(seconds=1)).count() == 3,
        what="the lost batches to be overdue (MAIL_REQUEUE_AFTER_SECONDS)",
    )
    sweep_mailings.delay()
    finished(mailing)

    all_sent_once(fake_esp, mailing, readers)
    assert set(Batch.objects.filter(mailing=mailing).values_list("attempts", flat=True)) == {1}


def test_a_broker_flushed_before_the_mailing_started_loses_no_mail(
    fake_esp, start_worker, draft, readers
):
    # No worker yet: the publish leaves start_mailing on the broker, and the flush loses it.
    mailing = publish(draft)
    broker = redis.Redis.from_url(TEST_REDIS_URL)
    assert broker.llen(QUEUE) == 1
    broker.flushdb()
    start_worker(**esp_worker_env(fake_esp, MAIL_REQUEUE_AFTER_SECONDS=1))

    wait_for(
        lambda: Mailing.objects.filter(
            pk=mailing.pk,
            status=Mailing.Status.PENDING,
            created_at__lt=timezone.now() - timedelta(seconds=1),
        ).exists(),
        what="the pending mailing to be overdue (MAIL_REQUEUE_AFTER_SECONDS)",
    )
    sweep_mailings.delay()
    finished(mailing)

    all_sent_once(fake_esp, mailing, readers)


# --- Races and limits that must not cost mail or send it twice ----------------------------------------


def test_a_subscriber_erased_while_their_batch_is_at_the_esp_costs_no_second_copy(
    fake_esp, start_worker, draft, readers
):
    fake_esp.script([("hold",)])
    start_worker(concurrency=1, **esp_worker_env(fake_esp, TEST_ANYMAIL_REQUESTS_TIMEOUT=30))
    mailing = publish(draft)
    [attempt] = held(fake_esp, 1)
    erased = next(r for r in readers if r.email == attempt.to[0])
    lifecycle.erase(erased, how="their manage page")  # their address is in the ESP call already
    fake_esp.release()

    # The batch is recorded as sent (not left `sending`, to be sent again after its lease).
    finished(mailing)
    batch = batch_of(mailing, attempt.to[1:])
    assert (batch.status, batch.attempts) == (Batch.Status.DONE, 1)
    all_sent_once(fake_esp, mailing, readers)
    assert Delivery.objects.filter(mailing=mailing, subscriber=None).count() == 1
    assert Baseline.objects.count() == len(readers) - 1


def test_waiting_for_the_send_rate_does_not_use_up_a_batchs_retries(
    fake_esp, start_worker, draft, readers
):
    # 5 mails a second: four of the five batches wait for the rate, some of them several times.
    # Then the last ESP call answers 503: its batch has had one attempt, and gets its retry.
    fake_esp.script(["ok", "ok", "ok", "ok", ("status", 503)])
    start_worker(**esp_worker_env(fake_esp, MAIL_SEND_RATE=5, MAIL_BATCH_MAX_ATTEMPTS=2))

    mailing = finished(publish(draft))

    all_sent_once(fake_esp, mailing, readers)
    waited = Batch.objects.filter(mailing=mailing, last_error="send rate limit")
    assert waited.count() >= 3  # the rate held batches back (the one that got the 503 too)
    unavailable = fake_esp.attempts[4]
    assert unavailable.status == 503
    assert batch_of(mailing, unavailable.to).attempts == 2
    assert set(Batch.objects.filter(mailing=mailing).values_list("attempts", flat=True)) == {1, 2}
