"""A batch whose outcome is unknown is reconciled with the ESP before anything is sent again.

The outcome of an ESP call is unknown when the worker died after the ESP took the batch but before
the ledger recorded it (its lease runs out), or when the call got no answer. Mailgun can tell which
recipients it took (its events API, filtered by the batch's user variable): those are recorded
`sent` and only the others are mailed. Where the ESP cannot tell (MAIL_RECONCILE=off here, SMTP in
production) the batch is sent again whole: at most one batch per pool process per incident. The
real stack of tests/test_fanout_faults.py; the fake Mailgun serves the events API.
"""

from __future__ import annotations

import json
import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from fakes.mailgun import FakeMailgun
from guide import publishing
from subscriptions import reconcile
from subscriptions.models import Batch, Delivery, Mailing
from subscriptions.tasks import sweep_mailings
from tests.conftest import DATA, make_subscribers
from tests.esp import esp_worker_env, held
from tests.fanout import SHORT_LEASE, batch_of
from tests.services import wait_for

pytestmark = [pytest.mark.worker]

CONCURRENCY = 2
BATCH_SIZE = 5  # esp_worker_env's MAIL_BATCH_SIZE


@pytest.fixture
def readers(draft):
    return make_subscribers(draft.guide, "reader", 25)


def kill_after_the_esp_took_two_batches(fake_esp, start_worker, draft, **env):
    """Both pool processes are inside an ESP call; the worker is killed (SIGKILL, the host died);
    then the ESP takes both calls, and nobody hears its answer. A new worker takes over."""
    fake_esp.script([("hold",), ("hold",)])
    env = esp_worker_env(fake_esp, TEST_ANYMAIL_REQUESTS_TIMEOUT=4, **SHORT_LEASE, **env)
    worker = start_worker(concurrency=CONCURRENCY, **env)
    publishing.publish(draft)
    mailing = Mailing.objects.get(version=draft)
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
    wait_for(
        lambda: Mailing.objects.filter(pk=mailing.pk, status="done").exists(),
        what="the mailing to finish",
    )
    return mailing, in_flight


def test_a_worker_killed_after_mailgun_took_its_batches_costs_no_mail_and_no_second_copy(
    fake_esp, start_worker, draft, readers
):
    mailing, in_flight = kill_after_the_esp_took_two_batches(fake_esp, start_worker, draft)

    assert sorted(fake_esp.recipients()) == sorted(r.email for r in readers)  # 0 missing
    assert fake_esp.duplicate_recipients() == {}  # 0 duplicates: the ESP was asked
    for attempt in in_flight:
        for row in Delivery.objects.filter(mailing=mailing, subscriber__email__in=attempt.to):
            assert (row.status, row.esp_message_id) == ("sent", attempt.batch.message_id)
        batch = batch_of(mailing, attempt.to)
        assert (batch.status, batch.last_error, batch.outcome_unknown) == (
            "done", "lease expired", False,
        )  # fmt: skip


def test_where_the_esp_cannot_tell_a_killed_worker_sends_at_most_one_batch_per_process_twice(
    fake_esp, start_worker, draft, readers
):
    mailing, in_flight = kill_after_the_esp_took_two_batches(
        fake_esp, start_worker, draft, MAIL_RECONCILE="off"
    )

    assert sorted(set(fake_esp.recipients())) == sorted(r.email for r in readers)  # 0 missing
    # The documented bound: pool processes × MAIL_BATCH_SIZE per incident, those batches only.
    twice = {address: 2 for attempt in in_flight for address in attempt.to}
    assert fake_esp.duplicate_recipients() == twice
    assert len(twice) == CONCURRENCY * BATCH_SIZE
    statuses = set(Delivery.objects.filter(mailing=mailing).values_list("status", flat=True))
    assert statuses == {"sent"}


def test_the_fake_events_api_answers_in_mailguns_shape_and_the_reconciler_reads_it(settings):
    # A page as Mailgun answers it (tests/data/mailgun_events_accepted.json) and as the fake does.
    sample = json.loads((DATA / "mailgun_events_accepted.json").read_text())
    with FakeMailgun(domains=["mg.example"]) as esp:
        settings.EMAIL_BACKEND = "subscriptions.esp.MailgunBatchBackend"
        settings.MAIL_MERGE_PLACEHOLDER = "%recipient.{}%"
        settings.ANYMAIL = {
            "MAILGUN_API_KEY": esp.api_key,
            "MAILGUN_API_URL": esp.api_url,
            "MAILGUN_SENDER_DOMAIN": "mg.example",
        }
        from django.core.mail import EmailMultiAlternatives

        message = EmailMultiAlternatives(
            "Subject",
            "Hello %recipient.name%",
            "news@mg.example",
            ["a@example.org", "b@example.org"],
        )
        message.merge_data = {"a@example.org": {"name": "A"}, "b@example.org": {"name": "B"}}
        message.merge_metadata = {
            "a@example.org": {"delivery": "7"},
            "b@example.org": {"delivery": "8"},
        }
        message.metadata = {"mlmw-batch": "42"}
        message.send()
        import requests

        page = requests.get(
            f"{esp.api_url}/mg.example/events", auth=("api", esp.api_key), timeout=5
        ).json()
        taken = reconcile.accepted(42, since=timezone.now() - timedelta(minutes=1))
        other = reconcile.accepted(43, since=timezone.now() - timedelta(minutes=1))

    assert set(page) == set(sample) and set(page["paging"]) == set(sample["paging"])
    [real] = sample["items"][:1]
    for event in page["items"]:
        assert set(real) - {"storage", "delivery-status"} <= set(event)
        assert set(real["message"]["headers"]) <= set(event["message"]["headers"])
    message_id = message.anymail_status.message_id
    assert taken == {7: ("a@example.org", message_id), 8: ("b@example.org", message_id)}
    assert other == {}
