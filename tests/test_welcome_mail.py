"""Confirming sends one short welcome: what the reader chose (guides, cadence, filters) and the
link to change it, in an Outlook-safe HTML part and a text part, as a list mail. It goes out once,
however often its task runs; a send that fails is retried, and then too goes out once. A real SMTP
server receives it."""

from __future__ import annotations

import pytest
from django.test import Client

from subscriptions.exceptions import SendFailure
from subscriptions.models import Subscriber
from subscriptions.sending import MAIL_TASK_RETRY
from subscriptions.tasks import send_welcome
from tests import reading_helpers
from tests.forms import page_form
from tests.mails import mailed_path
from tests.pages import text
from tests.reading_helpers import ADDRESS, WEEKLY_REMOVED_AND_SECURITY, confirm, subscribe

pytestmark = pytest.mark.django_db

# The shared fixtures of tests/reading_helpers.py.
visitor, guide_with_sections = reading_helpers.visitor, reading_helpers.guide_with_sections
WELCOME = "Welcome to MLMW guide updates"
CHOICES = [
    "Guides: All guides, and new ones as they appear",
    "How often: A weekly digest on Fridays at 18:00 (Europe/Berlin)",
    "Kinds of change: Removed, Security only",
    "Sections of The MLMW guide: Reference texts",
]


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def confirmed(guide_with_sections, visitor, post_committed, smtp_server):
    """ADDRESS subscribed with WEEKLY_REMOVED_AND_SECURITY and confirmed; the confirmed page."""
    subscribe(visitor, post_committed, **WEEKLY_REMOVED_AND_SECURITY)
    [confirmation] = smtp_server.messages
    return confirm(visitor, post_committed, confirmation.text)


def welcomes(smtp_server) -> list:
    return [mail for mail in smtp_server.messages if mail.subject == WELCOME]


def test_confirming_mails_a_welcome_with_the_choices_and_the_manage_link(confirmed, smtp_server):
    [welcome] = welcomes(smtp_server)

    assert welcome.rcpt_tos == (ADDRESS,)
    for line in CHOICES:
        assert line in welcome.text
    manage = mailed_path(welcome.text, "/manage/")
    assert mailed_path(welcome.html, "/manage/") == manage
    html = " ".join(welcome.html.split())
    assert "Reference texts" in html and "Removed, Security only" in html
    # A list mail (the reader is on the list): one-click headers, and tables Outlook draws.
    assert welcome.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert '<table class="choices" role="presentation"' in welcome.html
    assert welcome.message.get_content_type() == "multipart/alternative"
    assert len(welcome.message.as_bytes()) < 102_000
    # The link is the reader's own preferences page.
    page = Client().get(manage)
    assert "Address: ann@example.org · status: confirmed" in text(page)
    assert page_form(page, manage).fields["kinds"] == ["removed", "security"]


def test_the_confirmed_page_restates_the_choices_and_links_the_preferences(confirmed):
    page = text(confirmed)

    assert "You are subscribed" in page
    for line in CHOICES:
        assert line.replace(": ", " ", 1) in page


def test_the_welcome_task_run_again_sends_nothing_more(confirmed, smtp_server):
    subscriber = Subscriber.objects.get()
    welcomed_at = subscriber.welcomed_at

    again = send_welcome.run(subscriber.pk)

    assert again is False
    assert len(welcomes(smtp_server)) == 1
    subscriber.refresh_from_db()
    assert subscriber.welcomed_at == welcomed_at is not None


def test_a_greylisted_welcome_is_retried_and_then_sent_once(confirmed, smtp_server):
    subscriber = Subscriber.objects.get()
    # As if the welcome were still to send: its task's first try meets greylisting.
    Subscriber.objects.filter(pk=subscriber.pk).update(welcomed_at=None)
    smtp_server.clear()
    smtp_server.answer("RCPT", ADDRESS, "450 4.2.0 greylisted, try later")

    with pytest.raises(SendFailure):
        send_welcome.run(subscriber.pk)
    assert SendFailure in MAIL_TASK_RETRY["autoretry_for"]
    subscriber.refresh_from_db()
    assert subscriber.welcomed_at is None  # the failed send left the claim free for the retry

    assert send_welcome.run(subscriber.pk) is True  # the retry
    assert send_welcome.run(subscriber.pk) is False  # a duplicate of the task
    assert len(welcomes(smtp_server)) == 1


def test_a_reader_who_confirms_again_after_unsubscribing_is_welcomed_again(
    confirmed, visitor, post_committed, smtp_server, settings
):
    settings.CONFIRMATION_RESEND_SECONDS = 0
    subscriber = Subscriber.objects.get()
    Subscriber.objects.filter(pk=subscriber.pk).update(status=Subscriber.Status.UNSUBSCRIBED)

    subscribe(visitor, post_committed)
    confirmation = [m for m in smtp_server.messages if m.subject.startswith("Confirm")][-1]
    confirm(visitor, post_committed, confirmation.text)

    assert len(welcomes(smtp_server)) == 2
