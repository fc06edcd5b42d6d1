"""A one-recipient transactional mail (the confirmation link here; access links and denials share
subscriptions.sending.send_transactional) is not retried when retrying cannot help: an address the
server refuses for good is logged, without the address, and the task ends. One that may pass later (a
greylisting 4xx) raises for the task's retry (MAIL_TASK_RETRY). A real SMTP server gives the answers."""

from __future__ import annotations

import pytest

from subscriptions import addresses
from subscriptions.exceptions import SendFailure
from subscriptions.models import Subscriber, SubscriberEvent
from subscriptions.sending import MAIL_TASK_RETRY
from subscriptions.tasks import send_confirmation

pytestmark = pytest.mark.django_db

ADDRESS = "ada@example.org"


@pytest.fixture
def pending(guide) -> Subscriber:
    subscriber = Subscriber.objects.create(
        email=ADDRESS, email_key=addresses.key(ADDRESS), confirm_nonce="n1"
    )
    subscriber.guides.add(guide)
    return subscriber


def test_a_confirmation_refused_for_good_is_not_retried_and_not_recorded_as_sent(
    pending, smtp_server, caplog
):
    smtp_server.answer("RCPT", ADDRESS, "550 5.1.1 <ada@example.org>: no such user")

    assert send_confirmation.run(pending.pk, "n1") is False

    assert smtp_server.messages == []
    assert not SubscriberEvent.objects.filter(
        subscriber=pending, kind=SubscriberEvent.Kind.CONFIRMATION_SENT
    ).exists()
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "subscriptions.sending"]
    assert "was not sent, for good" in logged and ADDRESS not in logged


def test_a_greylisted_confirmation_is_retried_by_the_task(pending, smtp_server):
    smtp_server.answer("RCPT", ADDRESS, "450 4.2.0 greylisted, try later")

    with pytest.raises(SendFailure) as raised:
        send_confirmation.run(pending.pk, "n1")
    assert not raised.value.permanent and SendFailure in MAIL_TASK_RETRY["autoretry_for"]

    assert send_confirmation.run(pending.pk, "n1") is True  # the retry
    assert [m.rcpt_tos for m in smtp_server.messages] == [(ADDRESS,)]
    assert (
        SubscriberEvent.objects.filter(
            subscriber=pending, kind=SubscriberEvent.Kind.CONFIRMATION_SENT
        ).count()
        == 1
    )
