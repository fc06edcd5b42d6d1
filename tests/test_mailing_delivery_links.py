"""From a mailing's page to its per-recipient ledger: each count of the progress table links to the
deliveries of that mailing with that status (after a resend: each recipient's latest attempt, the
rows the counts are of), and the list is searched by address within those filters.
"""

from __future__ import annotations

import html
import re

import pytest

from guide import publishing
from subscriptions import audience
from subscriptions.models import Mailing
from tests.conftest import make_subscribers
from tests.pages import text

MAILINGS = "/admin/subscriptions/mailing/"
DELIVERIES = "/admin/subscriptions/delivery/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailing(draft) -> Mailing:
    make_subscribers(draft.guide, "reader", 4)
    publishing.publish(draft)
    mailing = Mailing.objects.get(version=draft)
    audience.start(mailing.pk)
    rows = list(mailing.deliveries.order_by("subscriber__email"))
    for row, status in zip(rows, ["sent", "sent", "failed", "failed"], strict=True):
        row.status = status
        row.save()
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.DONE)
    mailing.batches.update(status="done")
    return mailing


def status_links(client, mailing: Mailing) -> dict[str, str]:
    """The progress table's links, by the status they name."""
    page = client.get(f"{MAILINGS}{mailing.pk}/change/").content.decode()
    table = re.search(r'<table id="mailing-progress">(.*?)</table>', page, re.S)[1]
    return {
        re.search(r"status__exact=(\w+)", href)[1]: html.unescape(href)
        for href in re.findall(r'href="([^"]+)"', table)
    }


def recipients(client, url: str) -> list[str]:
    return sorted(set(re.findall(r"reader-\d\d@example\.org", text(client.get(url)))))


def test_each_count_links_to_exactly_those_deliveries_of_the_mailing(list_admin_client, mailing):
    links = status_links(list_admin_client, mailing)

    assert set(links) == {"queued", "sent", "failed", "skipped", "bounced"}
    assert recipients(list_admin_client, links["failed"]) == [
        "reader-02@example.org",
        "reader-03@example.org",
    ]
    assert recipients(list_admin_client, links["sent"]) == [
        "reader-00@example.org",
        "reader-01@example.org",
    ]
    assert recipients(list_admin_client, links["skipped"]) == []


def test_after_a_resend_the_links_list_each_recipients_latest_attempt(
    list_admin_client, mailing, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the resend is sent (locmem)
        list_admin_client.post(f"{MAILINGS}{mailing.pk}/resend/", {"confirm": "yes"})

    links = status_links(list_admin_client, mailing)

    assert f"latest_of={mailing.pk}" in links["sent"]
    assert len(recipients(list_admin_client, links["sent"])) == 4
    assert recipients(list_admin_client, links["failed"]) == []
    # The original's own rows still say what happened to its attempt.
    own = f"{DELIVERIES}?mailing={mailing.pk}&status__exact=failed"
    assert len(recipients(list_admin_client, own)) == 2


def test_the_ledger_of_a_mailing_is_searched_by_address_within_a_status(list_admin_client, mailing):
    failed = status_links(list_admin_client, mailing)["failed"]

    found = recipients(list_admin_client, f"{failed}&q=reader-03")
    none = recipients(list_admin_client, f"{failed}&q=reader-00")

    assert (found, none) == (["reader-03@example.org"], [])
