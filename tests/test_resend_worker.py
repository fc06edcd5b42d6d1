"""A resend on the real stack: a `celery worker` process on Redis and PostgreSQL, anymail's Mailgun
backend posting to the fake Mailgun (tests/test_fanout_faults.py has the same set-up).

What the admin relies on: after the ESP refused some batches, "Send to everyone who did not
receive it" reaches exactly those recipients, once; pressing it again reaches nobody; and a worker
killed (SIGKILL) in the middle of the resend costs no mail and sends none twice.
"""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from guide import publishing
from subscriptions import resend
from subscriptions.models import Batch, Delivery, Mailing
from subscriptions.tasks import sweep_mailings
from tests.conftest import make_subscribers
from tests.esp import esp_worker_env, held
from tests.fanout import SHORT_LEASE
from tests.services import TEST_REDIS_URL, wait_for

pytestmark = [pytest.mark.worker]

QUEUE = "mlmw"
REFUSED = ("status", 400, {}, {"message": "'to' parameter is not a valid address"})


@pytest.fixture
def readers(draft):
    return make_subscribers(draft.guide, "reader", 25)


def finished(mailing: Mailing) -> Mailing:
    return wait_for(
        lambda: Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.DONE).first(),
        timeout=90,
        what=f"{mailing} to finish",
    )


def published_with_failures(version) -> Mailing:
    publishing.publish(version)
    mailing = finished(Mailing.objects.get(version=version))
    assert mailing.deliveries.filter(status=Delivery.Status.FAILED).exists()
    return mailing


def everyone_received_it_once(esp, readers) -> None:
    assert sorted(esp.recipients()) == sorted(r.email for r in readers)
    assert esp.duplicate_recipients() == {}


def test_after_a_4xx_the_resend_reaches_exactly_the_failed_once_and_a_second_press_nobody(
    fake_esp, start_worker, draft, readers
):
    fake_esp.script([REFUSED, REFUSED])
    start_worker(**esp_worker_env(fake_esp))
    mailing = published_with_failures(draft)
    failed = set(
        mailing.deliveries.filter(status="failed").values_list("subscriber__email", flat=True)
    )
    assert len(failed) == 10 and len(fake_esp.recipients()) == 15

    first = resend.resend(mailing.pk)
    again_at_once = resend.resend(mailing.pk)  # pressed again while the first is being sent
    finished(first)
    again_after = resend.resend(mailing.pk)

    assert (again_at_once, again_after) == (None, None)
    everyone_received_it_once(fake_esp, readers)
    assert set(first.deliveries.values_list("subscriber__email", flat=True)) == failed
    assert set(first.deliveries.values_list("status", flat=True)) == {"sent"}
    assert mailing.resends.count() == 1


def test_a_worker_killed_mid_resend_loses_no_mail_and_sends_none_twice(
    fake_esp, start_worker, draft, readers
):
    fake_esp.script([REFUSED] * 5)  # the whole release refused: all 25 to resend
    env = esp_worker_env(fake_esp, TEST_ANYMAIL_REQUESTS_TIMEOUT=4, **SHORT_LEASE)
    worker = start_worker(**env)
    mailing = published_with_failures(draft)
    assert fake_esp.recipients() == []

    # The resend's first two batches reach the ESP, which takes them but has not answered when the
    # worker dies (SIGKILL, the whole host); three batches wait on the broker.
    fake_esp.script([("hold",), ("hold",)])
    again = resend.resend(mailing.pk)
    in_flight = held(fake_esp, 2)
    broker = redis.Redis.from_url(TEST_REDIS_URL)
    wait_for(lambda: broker.llen(QUEUE) == 3, what="three resend batches waiting on the broker")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    fake_esp.release()  # the ESP goes on and sends the two batches the dead worker never heard of
    wait_for(lambda: all(a.accepted for a in in_flight), what="the held batches to be accepted")
    start_worker(**env)

    expired = timedelta(seconds=SHORT_LEASE["MAIL_BATCH_LEASE_SECONDS"])
    wait_for(
        lambda: (
            not again.batches.filter(
                status=Batch.Status.SENDING, claimed_at__gte=timezone.now() - expired
            ).exists()
            and again.batches.filter(status=Batch.Status.DONE).count() == 3
        ),
        timeout=60,
        what="the three queued batches sent and the killed ones' lease to run out",
    )
    sweep_mailings.delay()
    finished(again)

    # The sweeper handed the two killed batches back; their next claim asked the ESP, which had
    # them: recorded sent, not sent again.
    everyone_received_it_once(fake_esp, readers)
    assert again.batches.filter(attempts=2, last_error="lease expired").count() == 2
    assert again.deliveries.count() == 25
    assert set(again.deliveries.values_list("status", flat=True)) == {"sent"}
    assert resend.resend(mailing.pk) is None
