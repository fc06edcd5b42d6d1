"""Nobody learns from the request form whether an address has asked, been approved or denied, or is
subscribed: every outcome gets the same status, headers and bytes. Only the address's own inbox
differs. (The form shares the subscribe form's rules: subscriptions.views.over_address_limits.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from access.models import AccessRequest
from subscriptions.models import Subscriber
from tests.conftest import grant_for
from tests.pages import text

ADDRESS = "ann@example.org"
REFERENCE_ADDRESS = "reference@example.net"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


def _request(artifact, status, mailed_ago=None, **fields):
    return AccessRequest.objects.create(
        artifact=artifact, email=ADDRESS, email_key=ADDRESS, status=status,
        verify_nonce="old-nonce" if status == "unverified" else "",
        verify_sent_at=None if mailed_ago is None else timezone.now() - mailed_ago, **fields,
    )  # fmt: skip


def new(artifact, settings, client, url):
    return {}


def unverified(artifact, settings, client, url):
    _request(artifact, "unverified", mailed_ago=timedelta(days=1))
    return {}


def unverified_within_resend_window(artifact, settings, client, url):
    _request(artifact, "unverified", mailed_ago=timedelta(seconds=30))
    return {}


def waiting_for_review(artifact, settings, client, url):
    _request(artifact, "pending")
    return {}


def approved(artifact, settings, client, url):
    grant_for(artifact, ADDRESS)
    return {}


def denied(artifact, settings, client, url):
    _request(artifact, "denied")
    return {}


def subscribed(artifact, settings, client, url):
    Subscriber.objects.create(
        email=ADDRESS, email_key=ADDRESS, status="confirmed", confirmed_at=timezone.now()
    )
    return {}


def honeypot_filled(artifact, settings, client, url):
    return {"website": "https://cheap-pills.example"}


def rate_limited_by_the_subscribe_form(artifact, settings, client, url):
    # The same budget as subscribing: attempts there count here.
    settings.SUBSCRIBE_RATE_PER_MAILBOX = "1/h"
    client.post("/subscribe/", {"email": "a.nn+x@example.org"}, REMOTE_ADDR="192.0.2.10")
    return {}


CASES = {
    "new": (new, "Verify your request"),
    "unverified": (unverified, "Verify your request"),
    "unverified within the resend window": (unverified_within_resend_window, None),
    "waiting for review": (waiting_for_review, "Verify your request"),
    "approved": (approved, "Verify your request"),
    "denied": (denied, "Verify your request"),
    "subscribed": (subscribed, "Verify your request"),
    "honeypot filled": (honeypot_filled, None),
    "rate-limited by the subscribe form": (rate_limited_by_the_subscribe_form, None),
}


@pytest.fixture
def url(topic_list) -> str:
    return topic_list.get_request_url()


@pytest.fixture
def reference(client, post_committed, mailoutbox, url):
    response = post_committed(client, url, {"email": REFERENCE_ADDRESS}, REMOTE_ADDR="198.51.100.1")
    assert "Check your inbox" in text(response)
    assert [m.to for m in mailoutbox] == [[REFERENCE_ADDRESS]]
    mailoutbox.clear()
    return response


@pytest.mark.parametrize("case", list(CASES))
def test_every_request_outcome_gets_the_same_answer_and_only_the_own_inbox_differs(
    case, topic_list, url, client, post_committed, mailoutbox, settings, reference
):
    arrange, expected_subject = CASES[case]
    form_extra = arrange(topic_list, settings, client, url)
    mailoutbox.clear()

    response = post_committed(client, url, {"email": ADDRESS, "reason": "hi", **form_extra})

    assert response.status_code == reference.status_code == 200
    assert response.content == reference.content
    assert dict(response.items()) == dict(reference.items())
    assert dict(response.cookies) == dict(reference.cookies) == {}
    assert all(message.to == [ADDRESS] for message in mailoutbox)
    assert [m.subject.split(" for ")[0] for m in mailoutbox] == (
        [expected_subject] if expected_subject else []
    )


def test_bad_input_gets_a_clear_form_error_and_stores_nothing(client, url, topic_list):
    response = client.post(url, {"email": "Ann <ann@example.org>", "reason": "x" * 501})
    assert response.status_code == 400
    page = text(response)
    assert "Enter the address alone" in page
    assert "at most 500 characters" in page
    assert not AccessRequest.objects.exists()


def test_a_public_or_link_artifact_has_no_request_form(client, guide):
    from tests.conftest import make_artifact

    site = make_artifact(guide, "Website", kind="link", url="https://trics.me", policy="public")
    assert client.get(site.get_request_url()).status_code == 404


def view_work(client, on_commit, url: str, address: str) -> tuple[list[str], int]:
    """The SQL the request view runs (values left out) and the tasks it leaves for the commit."""
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries, on_commit() as callbacks:
        client.post(url, {"email": address, "want_updates": "on"})
    return [re.sub(r"'[^']*'|\b\d+\b", "?", q["sql"]) for q in queries], len(callbacks)


@pytest.mark.parametrize("case", ["unverified", "waiting for review", "approved", "subscribed"])
def test_the_request_view_does_the_same_work_for_every_address(
    case, topic_list, url, client, settings, django_capture_on_commit_callbacks
):
    new_work = view_work(client, django_capture_on_commit_callbacks, url, REFERENCE_ADDRESS)
    CASES[case][0](topic_list, settings, client, url)

    work = view_work(client, django_capture_on_commit_callbacks, url, ADDRESS)

    assert work == new_work
    assert work[1] == 1  # one task, which decides
    # The one row it writes is the stored submission, a queued task (subscriptions.form_requests):
    # no request or subscriber is read or written here.
    touched = [
        sql.split(" (")[0]
        for sql in work[0]
        if "access_accessrequest" in sql or "subscriptions_" in sql
    ]
    assert touched == ['INSERT INTO "subscriptions_queuedtask"']
