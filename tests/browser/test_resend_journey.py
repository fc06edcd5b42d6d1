"""An admin opens a release mailing whose ESP refused some recipients, presses "Send to everyone
who did not receive it", and watches the progress bar finish, in Chromium, without reloading.

Real parts: the live server, a real Celery worker on Redis sending through anymail's Mailgun
backend to the fake Mailgun (which refuses the first batch with a 400, and takes its time over the
resend so the bar is seen moving), and htmx polling the bar's fragment from the page.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from guide import publishing
from subscriptions.models import Mailing
from tests.conftest import make_subscribers
from tests.esp import esp_worker_env
from tests.services import wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

REFUSED = ("status", 400, {}, {"message": "'to' parameter is not a valid address"})


def test_an_admin_resends_to_the_missing_recipients_and_watches_the_bar_finish(
    page: Page, site: str, fake_esp, start_worker, list_admin, draft
):
    readers = make_subscribers(draft.guide, "reader", 12)
    # Three batches of 5, 5 and 2: the first refused; the resend answered after 4 s.
    fake_esp.script([REFUSED, "ok", "ok", ("hang", 4, "ok")])
    start_worker(**esp_worker_env(fake_esp, SITE_URL=site))
    publishing.publish(draft)
    mailing = wait_for(
        lambda: Mailing.objects.filter(version=draft, status=Mailing.Status.DONE).first(),
        timeout=60,
        what="the release mailing to finish",
    )
    failed = mailing.deliveries.filter(status="failed").count()
    assert failed in (2, 5)

    page.goto(site + "/admin/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("ada-password")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{site}/admin/subscriptions/mailing/{mailing.pk}/change/")
    rate = page.locator("#mailing-rate")
    expect(rate).to_have_text(f"{12 - failed} of 12 sent · finished")
    expect(page.locator("#mailing-progress")).to_contain_text(str(failed))

    page.get_by_label(
        f"Send mlmw 0.10.1 again to the {failed} recipients who did not receive it"
    ).check()
    page.get_by_role("button", name="Send to everyone who did not receive it").click()
    expect(page.get_by_text(f"Sending mlmw 0.10.1 again to {failed} recipient(s)")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")
    expect(rate).to_contain_text("recipients/s")  # the resend is at the ESP: the bar polls

    expect(rate).to_have_text("12 of 12 sent · finished", timeout=60_000)
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, not reloaded
    expect(page.locator("#mailing-live")).not_to_have_attribute("hx-trigger", "every 2s")
    assert sorted(fake_esp.recipients()) == sorted(r.email for r in readers)
    assert fake_esp.duplicate_recipients() == {}
