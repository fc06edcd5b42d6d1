"""A visitor subscribes on the home page and confirms through the link in the mail, in Chromium.

The confirmation mail leaves the live server (its task runs in-process: no worker here) over SMTP to
the local SMTP server; the visitor opens the link from that mail as it arrived.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from subscriptions.models import Subscriber
from tests.services import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_visitor_subscribes_on_the_home_page_and_confirms_from_the_mail(
    page: Page, site: str, smtp_server, v0_10_0
):
    page.goto(site + "/")
    expect(page.get_by_role("heading", name="Subscribe for guide updates")).to_be_visible()
    page.get_by_label("Email address").fill("reader@example.org")
    page.get_by_label("Minor and major releases").check()
    page.locator("#subscribe").get_by_role("button", name="Subscribe").click()

    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.get_by_text("Open the link in it to confirm your subscription")).to_be_visible()

    [mail] = wait_for(lambda: smtp_server.to("reader@example.org"), what="the confirmation mail")
    assert mail.subject == "Confirm your subscription to MLMW guide updates"
    [link] = re.findall(re.escape(site) + r"/confirm/[^\s]+/", mail.text)

    # Opening the link shows a button and changes nothing (mail scanners open links too).
    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING

    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    expect(page.get_by_text("You will receive MLMW guide updates at")).to_be_visible()
    expect(page.get_by_text("Minor and major releases")).to_be_visible()  # the choices restated
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert subscriber.cadence == "minor"
    assert subscriber.consent_user_agent.startswith("Mozilla/5.0")

    # The page's own link leads to the subscriber's preferences.
    page.get_by_role("link", name="change what you receive").click()
    expect(page.get_by_role("heading", name="Your subscription")).to_be_visible()
    expect(page.get_by_text("reader@example.org")).to_be_visible()
