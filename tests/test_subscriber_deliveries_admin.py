"""A subscriber's admin page shows what was mailed to them: their recent deliveries (each linked to
its mailing and its ledger row, and a link to all of them) and, per guide, the last version they
were mailed (their baseline), saying whether it was mailed or was live when they started following.
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from subscriptions.models import Baseline, Delivery, Mailing
from tests.conftest import make_subscribers
from tests.pages import hrefs, text

SUBSCRIBERS = "/admin/subscriptions/subscriber/"
DELIVERIES = "/admin/subscriptions/delivery/"
MAILINGS = "/admin/subscriptions/mailing/"

pytestmark = pytest.mark.django_db


def table(response, css_class: str) -> list[list[str]]:
    """The body rows of the page's table of that class, each a list of its cells' text."""
    found = re.search(
        rf'<table class="{css_class}">.*?<tbody>(.*?)</tbody>', response.content.decode(), re.S
    )
    assert found, f"no table {css_class}"
    return [
        [text(cell) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", found[1], re.S)
    ]


def test_the_page_lists_their_deliveries_linked_to_mailings_and_the_ledger(
    list_admin_client, guide, v0_9_0, v0_10_0
):
    ann, bob = make_subscribers(guide, "reader", 2)
    first = Mailing.objects.create(version=v0_9_0, status=Mailing.Status.DONE)
    second = Mailing.objects.create(version=v0_10_0, status=Mailing.Status.DONE)
    old = Delivery.objects.create(
        mailing=first, subscriber=ann, status="sent", sent_at=timezone.now()
    )
    new = Delivery.objects.create(mailing=second, subscriber=ann, status="failed", error="ESP 400")
    Delivery.objects.create(mailing=second, subscriber=bob, status="sent")

    page = list_admin_client.get(f"{SUBSCRIBERS}{ann.pk}/change/")
    every = list_admin_client.get(f"{DELIVERIES}?subscriber={ann.pk}")

    links = hrefs(page)
    assert f"{MAILINGS}{second.pk}/change/" in links and f"{DELIVERIES}{new.pk}/change/" in links
    assert f"{MAILINGS}{first.pk}/change/" in links and f"{DELIVERIES}{old.pk}/change/" in links
    assert [row[:2] + row[4:] for row in table(page, "recent-deliveries")] == [
        ["Mailing of mlmw 0.10.0", "Failed", "ESP 400"],
        ["Mailing of mlmw 0.9.0", "Sent", ""],
    ]
    assert f"{DELIVERIES}?subscriber={ann.pk}" in links
    assert every.status_code == 200
    assert "reader-00@example.org" in text(every) and "reader-01@example.org" not in text(every)


def test_per_guide_the_last_version_they_were_mailed_and_whether_it_was_mailed(
    list_admin_client, guide, v0_9_0, v0_10_0
):
    ann, bob = make_subscribers(guide, "reader", 2)
    mailing = Mailing.objects.create(version=v0_10_0, status=Mailing.Status.DONE)
    Delivery.objects.create(mailing=mailing, subscriber=ann, status="sent")
    Baseline.objects.create(subscriber=ann, guide=guide, version=v0_10_0)
    Baseline.objects.create(subscriber=bob, guide=guide, version=v0_9_0)  # started following

    mailed = table(list_admin_client.get(f"{SUBSCRIBERS}{ann.pk}/change/"), "last-mailed")
    following = table(list_admin_client.get(f"{SUBSCRIBERS}{bob.pk}/change/"), "last-mailed")

    assert [row[:3] for row in mailed] == [["The MLMW guide", "0.10.0", "mailed"]]
    assert [row[:3] for row in following] == [
        ["The MLMW guide", "0.9.0", "live when they started following"]
    ]
