"""A subscriber changes their preferences from the link in a release mail, then unsubscribes with one
click, in Chromium.

The release mail is real: publish() commits, a real Celery worker sends it over SMTP to the local SMTP
server, and the subscriber follows its links as they arrived.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from guide import publishing
from guide.models import Guide
from subscriptions.models import Subscriber
from tests.conftest import make_subscribers
from tests.services import wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]


def mailed_link(text: str, label: str) -> str:
    """The URL after `label` in a mail's text part ("Unsubscribe: https://…")."""
    [url] = [
        line.removeprefix(f"{label}: ") for line in text.splitlines() if line.startswith(label)
    ]
    return url


def test_a_subscriber_changes_preferences_from_the_mail_then_unsubscribes_with_one_click(
    page: Page, site: str, smtp_server, start_worker, draft
):
    mlmw = draft.guide
    other = Guide.objects.create(slug="mlmw-ru", title="The MLMW guide in Russian")
    [reader] = make_subscribers(mlmw, "reader", 1, guides=(other,))
    start_worker(
        TEST_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=smtp_server.host,
        EMAIL_PORT=str(smtp_server.port),
        SITE_URL=site,
    )
    publishing.publish(draft)
    [mail] = wait_for(
        lambda: smtp_server.to(reader.email), timeout=90, what="the release mail to the subscriber"
    )

    # The preferences link of the mail: the page shows the address and the current choices.
    page.goto(mailed_link(mail.text, "Change what you receive"))
    expect(page.get_by_role("heading", name="Your subscription")).to_be_visible()
    expect(page.get_by_text(f"Address: {reader.email} · status: confirmed")).to_be_visible()
    expect(page.get_by_label("The MLMW guide in Russian")).to_be_checked()
    expect(page.get_by_label("Every release")).to_be_checked()

    page.get_by_label("The MLMW guide in Russian").uncheck()
    page.get_by_label("Major releases only").check()
    page.get_by_role("button", name="Save preferences").click()

    expect(page.get_by_role("status")).to_have_text("Your preferences are saved.")
    expect(page.get_by_label("The MLMW guide in Russian")).not_to_be_checked()
    expect(page.get_by_label("Major releases only")).to_be_checked()
    reader.refresh_from_db()
    assert reader.cadence == "major"
    assert list(reader.guides.all()) == [mlmw]
    assert reader.status == Subscriber.Status.CONFIRMED

    # The mail's unsubscribe link: one button, no questions.
    page.goto(mailed_link(mail.text, "Unsubscribe"))
    expect(page.get_by_role("heading", name="Unsubscribe from MLMW guide updates")).to_be_visible()
    page.get_by_role("button", name="Unsubscribe").click()

    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    expect(
        page.get_by_text("You will not receive any more MLMW guide updates at this address.")
    ).to_be_visible()
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED
    assert reader.unsubscribed_at is not None

    # The preferences page says so too, and offers the subscribe form instead of preferences.
    page.goto(mailed_link(mail.text, "Change what you receive"))
    expect(page.get_by_text(f"Address: {reader.email} · status: unsubscribed")).to_be_visible()
    expect(page.get_by_text("You receive no updates at this address.")).to_be_visible()
    expect(page.get_by_role("button", name="Save preferences")).to_have_count(0)
    expect(page.get_by_role("button", name="Unsubscribe")).to_have_count(0)
    expect(page.get_by_role("heading", name="Subscribe again")).to_be_visible()
    expect(page.get_by_label("Email address")).to_have_value(reader.email)
    expect(page.get_by_label("Major releases only")).to_be_checked()

    # Subscribing again is the public double opt-in: pending until the new link is confirmed.
    page.get_by_role("button", name="Subscribe", exact=True).click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    [confirmation] = wait_for(
        lambda: [m for m in smtp_server.to(reader.email) if m.subject.startswith("Confirm")],
        timeout=90,
        what="the confirmation mail",
    )
    assert "/confirm/" in confirmation.text
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.PENDING
    assert reader.cadence == "major"
