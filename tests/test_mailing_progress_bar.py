"""The live progress bar on a mailing's page: a stacked bar of each recipient's latest attempt with
counts, the send rate and an ETA, polled every 2 s (htmx from our own static files) while the
mailing or a resend of it runs, and no longer once it is done. Staff-only, under the strict CSP.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from guide import publishing
from subscriptions import audience
from subscriptions.models import Delivery, Mailing, Subscriber
from tests.conftest import make_subscribers
from tests.csp import assert_strict
from tests.pages import text

MAILINGS = "/admin/subscriptions/mailing/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailing(draft) -> Mailing:
    make_subscribers(draft.guide, "reader", 10)
    publishing.publish(draft)
    mailing = Mailing.objects.get(version=draft)
    audience.start(mailing.pk)
    return mailing


def fragment(client, mailing: Mailing):
    return client.get(f"{MAILINGS}{mailing.pk}/progress/")


def bar_widths(response) -> dict[str, int]:
    """The width of each status's stretch of the SVG bar."""
    html = response.content.decode()
    found = re.findall(r'<rect class="bar-(\w+)" x="\d+" y="0" width="(\d+)"', html)
    return {status: int(width) for status, width in found if status != "track"}


def polls(response) -> bool:
    html = response.content.decode()
    found = re.search(r'<div id="mailing-live"[^>]*>', html)
    assert found, "no live progress element"
    return 'hx-trigger="every 2s"' in found[0]


def test_a_sending_mailings_bar_shows_each_status_as_a_share_with_counts_rate_and_eta(
    list_admin_client, mailing
):
    now = timezone.now()
    rows = list(mailing.deliveries.order_by("pk"))
    for row, status in zip(rows, ["sent"] * 5 + ["failed", "skipped"], strict=False):
        Delivery.objects.filter(pk=row.pk).update(status=status, sent_at=now)
    Mailing.objects.filter(pk=mailing.pk).update(started_at=now - timedelta(seconds=10))

    response = fragment(list_admin_client, mailing)
    page = text(response)

    assert response.status_code == 200
    assert bar_widths(response) == {"sent": 500, "failed": 100, "skipped": 100, "queued": 300}
    assert "5 of 10 sent · 0.5 recipients/s · about 6 s left" in page
    assert polls(response)
    assert f'hx-get="{MAILINGS}{mailing.pk}/progress/"' in response.content.decode()


def test_the_bar_stops_polling_once_the_mailing_is_done(list_admin_client, mailing):
    mailing.deliveries.update(status="sent", sent_at=timezone.now())
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.DONE)

    response = fragment(list_admin_client, mailing)

    assert not polls(response)
    assert bar_widths(response) == {"sent": 1000}
    assert "10 of 10 sent · finished" in text(response)


def test_after_a_resend_each_recipient_is_counted_once_by_their_latest_attempt(
    list_admin_client, mailing, django_capture_on_commit_callbacks
):
    mailing.deliveries.update(status="failed", error="ESP answered 400")
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.DONE)
    mailing.batches.update(status="done")
    with django_capture_on_commit_callbacks(execute=False):  # the resend's batches not sent yet
        list_admin_client.post(f"{MAILINGS}{mailing.pk}/resend/", {"confirm": "yes"})

    queued = fragment(list_admin_client, mailing)
    mailing.resends.get().deliveries.update(status="sent", sent_at=timezone.now())
    mailing.resends.update(status=Mailing.Status.DONE)
    done = fragment(list_admin_client, mailing)

    assert polls(queued) and bar_widths(queued) == {"queued": 1000}
    assert not polls(done) and bar_widths(done) == {"sent": 1000}
    assert "10 of 10 sent · finished" in text(done)


def test_the_mailing_page_loads_htmx_from_static_files_and_keeps_the_strict_policy(
    list_admin_client, mailing
):
    page = list_admin_client.get(f"{MAILINGS}{mailing.pk}/change/")
    bar = fragment(list_admin_client, mailing)
    html = page.content.decode()

    assert '<script src="/static/vendor/htmx/htmx.min.js" defer></script>' in html
    assert '"allowEval": false' in html and '"includeIndicatorStyles": false' in html
    assert polls(page)
    assert_strict(page)
    assert_strict(bar)
    assert " style=" not in bar.content.decode()


def test_the_bar_is_for_staff_who_may_see_the_mailing(client, mailing):
    anonymous = fragment(client, mailing)
    reader = Subscriber.objects.first()
    outsider = Client()
    outsider.force_login(User.objects.create_user("sam", "sam@example.org", "pw", is_staff=True))

    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert fragment(outsider, mailing).status_code == 403
    assert reader.email not in text(anonymous)
