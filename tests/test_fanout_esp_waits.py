"""Waiting for the ESP is not failing: rate limits and outages are waited out, for hours if need be.

A 429 (the ESP's rate limit) never uses up a batch's attempts; 5xx, timeouts and dropped connections
are retried with capped exponential backoff and jitter for MAIL_GIVE_UP_AFTER seconds, however many
attempts that takes; a mailing is not `done` while one of its batches still waits, and its admin page
says until when it waits. The real stack of tests/test_fanout_worker.py: a worker, Redis,
PostgreSQL, anymail's Mailgun backend, the fake Mailgun answering every request for a given time.
"""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse

from guide import publishing
from subscriptions.models import Batch, Delivery, Mailing
from tests.conftest import make_subscribers
from tests.esp import esp_worker_env
from tests.services import wait_for

pytestmark = [pytest.mark.worker]

# With the defaults (MAIL_BATCH_MAX_ATTEMPTS=8, each 429 an attempt, "Retry-After: 5") a batch
# failed for good after ~35 s of rate limiting. These episodes are longer than that.
EPISODE = 40


@pytest.fixture
def readers(draft):
    return make_subscribers(draft.guide, "reader", 25)


def statuses(mailing: Mailing) -> set[str]:
    return set(Delivery.objects.filter(mailing=mailing).values_list("status", flat=True))


def test_a_rate_limit_longer_than_the_old_attempt_budget_fails_nobody_and_the_mailing_ends_after_it(
    fake_esp, start_worker, draft, readers, superuser
):
    fake_esp.outage(EPISODE, 429, {"Retry-After": "2"})
    started = time.monotonic()
    start_worker(**esp_worker_env(fake_esp))
    publishing.publish(draft)
    mailing = Mailing.objects.get(version=draft)

    # Midway the mailing is still sending, and its page says what it waits for.
    wait_for(lambda: time.monotonic() - started > EPISODE / 2, what="the middle of the episode")
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.SENDING
    admin = Client()
    admin.force_login(superuser)
    page = admin.get(reverse("admin:subscriptions_mailing_change", args=[mailing.pk]))
    assert "waiting for the ESP until" in page.content.decode()
    assert "its last answer: ESP answered 429" in page.content.decode()

    wait_for(
        lambda: Mailing.objects.filter(pk=mailing.pk, status="done").exists(),
        timeout=EPISODE + 60,
        what="the mailing to finish",
    )
    assert fake_esp.outage_over
    assert sorted(fake_esp.recipients()) == sorted(r.email for r in readers)  # 0 missing, once
    assert statuses(mailing) == {Delivery.Status.SENT}  # 0 failed
    limited = [a for a in fake_esp.attempts if a.status == 429]
    assert len(limited) > 8 * 5  # more "not now" answers than the attempts of all five batches
    # A rate limit is no attempt: each batch was attempted once, the time it was accepted.
    assert set(Batch.objects.filter(mailing=mailing).values_list("attempts", flat=True)) == {1}


def test_an_outage_is_retried_for_MAIL_GIVE_UP_AFTER_however_many_attempts_that_takes(
    fake_esp, start_worker, draft, readers
):
    fake_esp.outage(12, 503)
    start_worker(**esp_worker_env(fake_esp, MAIL_BATCH_MAX_ATTEMPTS=2, MAIL_GIVE_UP_AFTER=120))
    publishing.publish(draft)
    mailing = wait_for(
        lambda: Mailing.objects.filter(version=draft, status="done").first(),
        timeout=90,
        what="the mailing to finish",
    )

    assert sorted(fake_esp.recipients()) == sorted(r.email for r in readers)
    assert statuses(mailing) == {Delivery.Status.SENT}
    assert max(Batch.objects.filter(mailing=mailing).values_list("attempts", flat=True)) > 2


def test_an_outage_longer_than_MAIL_GIVE_UP_AFTER_fails_the_waiting_recipients_with_the_reason(
    fake_esp, start_worker, draft, readers
):
    fake_esp.outage(600, 503)
    start_worker(**esp_worker_env(fake_esp, MAIL_GIVE_UP_AFTER=4))
    publishing.publish(draft)
    mailing = wait_for(
        lambda: Mailing.objects.filter(version=draft, status="done").first(),
        timeout=90,
        what="the mailing to end",
    )

    assert fake_esp.recipients() == []
    assert statuses(mailing) == {Delivery.Status.FAILED}
    errors = set(Delivery.objects.filter(mailing=mailing).values_list("error", flat=True))
    assert all(e.startswith("ESP answered 503 (still after ") for e in errors), errors
    for batch in Batch.objects.filter(mailing=mailing):
        assert (batch.finished_at - batch.waiting_since).total_seconds() >= 4
