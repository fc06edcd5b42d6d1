"""Someone who asked for an artifact, subscriber or not, can see, download and erase what we hold
about them through the "your data" link in every access mail, as subscribers can."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from access import lifecycle
from access.models import AccessRequest, Download, Grant
from subscriptions.models import Subscriber
from tests.conftest import grant_for
from tests.mails import mailed_path
from tests.pages import text


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def data_link(topic_list, mailoutbox, django_capture_on_commit_callbacks) -> str:
    """The "your data" link of a denial mail to a reader who never subscribed."""
    request = AccessRequest.objects.create(
        artifact=topic_list, email="ann@example.org", email_key="ann@example.org",
        name="Ann", reason="For my course", status="pending",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.deny(request, by=None, message="Not this time.")
    [denial] = mailoutbox
    assert not Subscriber.objects.exists()
    return mailed_path(denial.body, "/access-data/")


def test_the_page_shows_what_we_hold_and_the_export_has_it_all(data_link, topic_list):
    page = Client().get(data_link)
    export = Client().get(data_link + "export.json")

    assert page.status_code == 200
    assert "MDTP topic list (mlmw): denied" in text(page)
    assert export.status_code == 200 and export["Cache-Control"] == "private, no-store"
    [record] = json.loads(export.content)["access_requests"]
    assert (record["email"], record["name"], record["reason"]) == (
        "ann@example.org",
        "Ann",
        "For my course",
    )


def test_erasing_removes_every_request_grant_and_download_of_the_address(data_link, topic_list):
    grant, _ = grant_for(topic_list, "ann@example.org")
    Download.objects.create(grant=grant, ip="198.51.100.7")
    grant_for(topic_list, "bob@example.org")

    refused = Client().post(data_link, {})
    erased = Client().post(data_link, {"confirm": "yes"})

    assert refused.status_code == 400
    assert erased.status_code == 200 and "Your data is erased" in text(erased)
    assert list(AccessRequest.objects.values_list("email", flat=True)) == ["bob@example.org"]
    assert Grant.objects.count() == 1 and not Download.objects.exists()
    assert Client().get(data_link).status_code == 410


def test_erasing_also_erases_a_subscription_of_the_address(data_link, guide):
    Subscriber.objects.create(email="ann@example.org", email_key="ann@example.org")

    Client().post(data_link, {"confirm": "yes"})

    assert not Subscriber.objects.exists() and not AccessRequest.objects.exists()


def test_a_tampered_link_shows_nothing(data_link):
    response = Client().get(data_link[:-3] + "xx/")

    assert response.status_code == 400
    assert "ann@example.org" not in response.content.decode()
