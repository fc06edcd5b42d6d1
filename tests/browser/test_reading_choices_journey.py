"""A reader on the preferences page switches to a weekly digest of only Removed and Security, in
Chromium, and sees the choice saved (a reload shows it again and sends nothing); a visitor's
subscribe form starts in their browser's time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from subscriptions import tokens
from subscriptions.models import Subscriber, SubscriberEvent
from tests.conftest import make_subscribers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KINDS = ["Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"]


def test_a_reader_switches_to_a_weekly_digest_of_only_removed_and_security(
    page: Page, site: str, v0_10_0
):
    [reader] = make_subscribers(v0_10_0.guide, "reader", 1)
    page.goto(f"{site}/manage/{tokens.manage_token(reader)}/")
    expect(page.get_by_label("Every release")).to_be_checked()
    for kind in KINDS:
        expect(page.get_by_label(kind, exact=True)).to_be_checked()

    page.get_by_label("A weekly digest", exact=True).check()
    page.get_by_label("Weekly digest on").select_option(label="Friday")
    page.get_by_label("at", exact=True).select_option(label="18:00")
    page.get_by_label("time zone", exact=True).select_option(value="Europe/Berlin")
    for kind in ("Added", "Changed", "Deprecated", "Fixed"):
        page.get_by_label(kind, exact=True).uncheck()
    page.get_by_role("button", name="Save preferences").click()

    expect(page.get_by_role("status")).to_have_text("Your preferences are saved.")
    page.reload()  # a GET: the form is not sent again
    expect(page.get_by_label("A weekly digest", exact=True)).to_be_checked()
    expect(page.get_by_label("Weekly digest on")).to_have_value("4")
    expect(page.get_by_label("at", exact=True)).to_have_value("18")
    expect(page.get_by_label("time zone", exact=True)).to_have_value("Europe/Berlin")
    for kind in ("Removed", "Security"):
        expect(page.get_by_label(kind, exact=True)).to_be_checked()
    for kind in ("Added", "Changed", "Deprecated", "Fixed"):
        expect(page.get_by_label(kind, exact=True)).not_to_be_checked()
    reader.refresh_from_db()
    assert (reader.cadence, reader.kinds) == ("weekly", "removed,security")
    assert reader.next_digest_at(datetime(2026, 12, 7, tzinfo=UTC)) == datetime(
        2026, 12, 11, 18, tzinfo=ZoneInfo("Europe/Berlin")
    )
    assert reader.events.filter(kind=SubscriberEvent.Kind.PREFERENCES).count() == 1


def test_the_subscribe_form_starts_in_the_browsers_time_zone(browser: Browser, site: str, v0_10_0):
    context = browser.new_context(timezone_id="America/New_York", locale="en-US")
    try:
        page = context.new_page()
        page.goto(f"{site}/subscribe/")
        expect(page.get_by_label("time zone", exact=True)).to_have_value("America/New_York")
        page.get_by_label("Email address").fill("ann@example.org")
        page.get_by_label("A daily digest", exact=True).check()
        page.get_by_role("button", name="Subscribe", exact=True).click()
        expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    finally:
        context.close()
    assert Subscriber.objects.get().time_zone == "America/New_York"
