"""The admin dashboard: charts of how the list grows, what each release did and how many sign-ups
confirm, drawn from the stored rows, served as script-free SVG images under a policy of their own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from guide.publishing import publish
from subscriptions import dashboard
from subscriptions.models import Delivery, Subscriber, SubscriberEvent
from tests.conftest import make_subscribers


@pytest.fixture(autouse=True)
def _fresh_figures(clear_cache):
    """The figures are cached for minutes; each test computes its own."""


def test_the_admin_index_shows_the_four_charts_inline_to_a_list_admin(list_admin_client, guide):
    response = list_admin_client.get("/admin/")
    page = response.content.decode()

    assert "The list at a glance" in page
    dashboard_html = page.split('id="dashboard-title"')[1].split("</section>")[0]
    assert dashboard_html.count("<svg ") == 4
    for title in (
        "Confirmed subscribers, week by week",
        "Each week: confirmed, unsubscribed, bounced, complained",
        "Sent",
        "Sign-ups of the last 30 days, by where they are now",
    ):
        assert title in dashboard_html
    # Nothing the page's policy would refuse: no script, no style sheet, no style attribute.
    assert "<script" not in dashboard_html
    assert "<style" not in dashboard_html
    assert " style=" not in dashboard_html
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_an_editor_who_cannot_see_subscribers_gets_no_charts(editor_client, guide):
    page = editor_client.get("/admin/").content.decode()

    assert "The list at a glance" not in page
    assert "dashboard-charts" not in page


def test_the_weekly_figures_count_confirmations_and_departures_and_walk_the_total_back(guide):
    readers = make_subscribers(guide, "reader", 4)
    now = timezone.now()
    for reader in readers:
        SubscriberEvent.objects.create(subscriber=reader, kind="confirmed", created_at=now)
    Subscriber.objects.filter(pk=readers[0].pk).update(status="unsubscribed")
    SubscriberEvent.objects.create(subscriber=readers[0], kind="unsubscribed", created_at=now)
    SubscriberEvent.objects.create(
        subscriber=readers[1], kind="bounced", created_at=now - timedelta(weeks=20)
    )  # before the window: not counted

    weeks = dashboard.list_growth()

    assert len(weeks) == dashboard.WEEKS
    this_week = weeks[-1]
    assert (this_week.confirmed, this_week.unsubscribed, this_week.bounced) == (4, 1, 0)
    assert this_week.confirmed_total == 3
    # The week before: 3 now, minus 4 confirmed this week, plus 1 who left this week.
    assert weeks[-2].confirmed_total == 0


def test_a_releases_outcome_counts_its_deliveries_and_who_left_within_seven_days(
    guide, v0_10_0, draft, django_capture_on_commit_callbacks
):
    readers = make_subscribers(guide, "reader", 3, baseline=v0_10_0)
    with django_capture_on_commit_callbacks(execute=True):
        publish(draft)  # eager tasks in the suite: the mailing is sent
    Delivery.objects.filter(subscriber=readers[2]).update(status=Delivery.Status.BOUNCED)
    SubscriberEvent.objects.create(subscriber=readers[0], kind="unsubscribed")

    (outcome,) = dashboard.release_outcomes()

    assert outcome.label == "mlmw 0.10.1"
    assert (outcome.sent, outcome.bounced, outcome.failed) == (2, 1, 0)
    assert outcome.unsubscribed_within_7_days == 1
    assert "mlmw 0.10.1" in dashboard.releases_chart()


def test_a_subscribers_page_shows_their_deliveries_and_the_last_version_mailed_per_guide(
    list_admin_client, guide, v0_10_0, draft, django_capture_on_commit_callbacks
):
    (reader,) = make_subscribers(guide, "reader", 1, baseline=v0_10_0)
    with django_capture_on_commit_callbacks(execute=True):
        publish(draft)

    page = list_admin_client.get(f"/admin/subscriptions/subscriber/{reader.pk}/change/")

    assert page.status_code == 200
    body = page.content.decode()
    mailed = body.split('class="last-mailed"')[1].split("</table>")[0]
    # The baseline moved to the version mailed.
    assert "<td>The MLMW guide</td>" in mailed and ">0.10.1</a>" in mailed
    assert "<td>mailed</td>" in mailed
    delivery = Delivery.objects.get(subscriber=reader)
    assert f'href="/admin/subscriptions/delivery/{delivery.pk}/change/"' in body
    row = body.split('class="recent-deliveries"')[1].split("</table>")[0]
    assert "Sent" in row and "0.10.0" in row
