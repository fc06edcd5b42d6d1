"""Release mail over SMTP (one message per recipient) reads the server's answers as SMTP means them:
a 5xx refusal of one recipient or one message fails that reader only and the batch goes on; a 4xx to
one recipient (greylisting) leaves that reader queued for the batch's retry, which mails them once;
a 421 or a 4xx at DATA retries the batch; a refusal that would meet every message (the sender) fails
the batch. No address is stored with any of it. A real SMTP server (aiosmtpd) gives the answers."""

from __future__ import annotations

import pytest

from subscriptions import audience, delivery
from subscriptions.models import Batch, Delivery, Mailing
from tests.conftest import make_subscribers

pytestmark = pytest.mark.django_db

FIRST, SECOND, THIRD = (f"reader-{n:02d}@example.org" for n in range(3))


@pytest.fixture
def batch(smtp_server, settings, guide, v0_9_0, v0_10_0) -> int:
    """One batch of three readers of 0.10.0, to be sent one message each to the SMTP server."""
    settings.MAIL_MERGE_PLACEHOLDER = ""
    settings.MAIL_BATCH_MAX_ATTEMPTS = 3
    settings.MAIL_SEND_RATE = 0
    make_subscribers(guide, "reader", 3, baseline=v0_9_0)
    (batch_id,) = audience.start(Mailing.objects.create(version=v0_10_0).pk)
    return batch_id


def statuses() -> dict[str, tuple[str, str]]:
    return {
        email: (status, error)
        for email, status, error in Delivery.objects.values_list(
            "subscriber__email", "status", "error"
        )
    }


def send_again(batch_id: int) -> float | None:
    """The batch's retry, now rather than after its backoff."""
    Batch.objects.filter(pk=batch_id).update(enqueued_at=None)
    return delivery.send(batch_id)


def received(smtp_server) -> list[str]:
    return [address for mail in smtp_server.messages for address in mail.rcpt_tos]


def test_a_greylisted_reader_stays_queued_and_gets_the_mail_once_on_the_retry(batch, smtp_server):
    smtp_server.answer("RCPT", SECOND, "450 4.2.0 <reader-01@example.org>: greylisted, try later")

    wait = delivery.send(batch)

    assert wait is not None and wait > 0  # the batch is retried later
    assert received(smtp_server) == [FIRST, THIRD]
    assert statuses()[SECOND][0] == "queued"
    assert send_again(batch) is None
    assert received(smtp_server) == [FIRST, THIRD, SECOND]
    assert {status for status, _ in statuses().values()} == {"sent"}


def test_a_reader_greylisted_on_every_attempt_fails_in_the_end_without_costing_the_others(
    batch, smtp_server
):
    smtp_server.answer("RCPT", SECOND, *["450 4.2.0 greylisted"] * 5)

    wait = delivery.send(batch)
    while wait is not None:
        wait = send_again(batch)

    status, error = statuses()[SECOND]
    assert status == "failed" and "450" in error and "@" not in error
    assert received(smtp_server) == [FIRST, THIRD]


def test_a_message_refused_at_data_fails_that_reader_only(batch, smtp_server):
    smtp_server.answer("DATA", SECOND, "554 5.7.1 <reader-01@example.org>: rejected by policy")

    assert delivery.send(batch) is None

    assert statuses()[SECOND] == ("failed", "refused by the SMTP server (554)")
    assert statuses()[FIRST][0] == statuses()[THIRD][0] == "sent"
    assert received(smtp_server) == [FIRST, THIRD]


def test_a_recipient_refused_for_good_fails_that_reader_only(batch, smtp_server):
    smtp_server.answer("RCPT", SECOND, "550 5.1.1 <reader-01@example.org>: no such user")

    assert delivery.send(batch) is None

    assert statuses()[SECOND] == ("failed", "refused by the SMTP server (550)")
    assert received(smtp_server) == [FIRST, THIRD]


def test_a_server_closing_at_rcpt_retries_the_rest_of_the_batch(batch, smtp_server):
    smtp_server.answer("RCPT", SECOND, "421 4.3.2 service shutting down")

    assert delivery.send(batch) is not None

    assert statuses()[FIRST][0] == "sent"
    assert statuses()[SECOND][0] == statuses()[THIRD][0] == "queued"
    assert send_again(batch) is None
    assert received(smtp_server) == [FIRST, SECOND, THIRD]


def test_a_temporary_answer_at_data_retries_the_rest_of_the_batch(batch, smtp_server):
    smtp_server.answer("DATA", SECOND, "451 4.3.0 local error, try again")

    assert delivery.send(batch) is not None
    assert send_again(batch) is None

    assert received(smtp_server) == [FIRST, SECOND, THIRD]
    assert {status for status, _ in statuses().values()} == {"sent"}


def test_a_refused_sender_fails_the_batch_at_once(batch, smtp_server):
    smtp_server.answer("MAIL", "*", "553 5.7.1 sender not allowed")

    assert delivery.send(batch) is None

    assert received(smtp_server) == []
    assert {status for status, _ in statuses().values()} == {"failed"}
    assert "553" in statuses()[FIRST][1]
    assert Batch.objects.get(pk=batch).attempts == 1
