"""A reader opens "View in browser" from their release mail in Chromium: the mail shows styled as
in a mail client (its inline CSS applies under the page's own policy), nothing is refused by that
policy, no script runs, and its links lead on to the reader's own pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from subscriptions import audience, delivery
from subscriptions.models import Mailing
from tests.conftest import make_subscribers
from tests.mails import view_path

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_mail_in_the_browser_is_styled_by_its_own_css_and_nothing_is_refused(
    page: Page, site: str, guide, v0_9_0, v0_10_0, mailoutbox, settings
):
    settings.MAIL_SEND_RATE = 0
    settings.MAIL_MERGE_PLACEHOLDER = ""
    [reader] = make_subscribers(guide, "reader", 1, baseline=v0_9_0)
    for batch_id in audience.start(Mailing.objects.create(version=v0_10_0).pk):
        delivery.send(batch_id)
    [mail] = [m for m in mailoutbox if m.to == [reader.email]]
    refused = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    page.goto(site + view_path(mail.body))

    expect(page.get_by_role("heading", name="Release 0.10.0")).to_be_visible()
    button = page.get_by_role("link", name="See what changed")
    # The button's white text and coloured box come from the mail's own (inline) CSS.
    assert button.evaluate("a => getComputedStyle(a).color") == "rgb(255, 255, 255)"
    assert page.evaluate("() => window.origin") == "null"  # sandboxed: no origin, no cookies
    assert refused == []
    page.get_by_role("link", name="What changed since you last read").click()
    expect(page.get_by_role("heading", name="What changed since you last read")).to_be_visible()
