"""Per artifact, requests from confirmed subscribers of the guide and/or from listed domains are
approved as soon as they are verified, and the link is mailed at once."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from access.models import AccessRequest, Grant
from subscriptions.models import Subscriber
from tests.forms import page_form
from tests.mails import mailed_path
from tests.pages import text


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


def ask_and_verify(artifact, address, post_committed, mailoutbox, **choices):
    client = Client()
    post_committed(client, artifact.get_request_url(), {"email": address, **choices})
    path = mailed_path(mailoutbox[-1].body, "/access/verify/")
    page = client.get(path)
    return post_committed(client, path, page_form(page, path).data())


def test_a_confirmed_subscriber_of_the_guide_is_approved_at_once(
    topic_list, post_committed, mailoutbox
):
    topic_list.auto_approve_subscribers = True
    topic_list.save()
    subscriber = Subscriber.objects.create(
        email="sub@example.org", email_key="sub@example.org", status="confirmed",
        confirmed_at=timezone.now(),
    )  # fmt: skip
    subscriber.guides.add(topic_list.guide)

    answer = ask_and_verify(topic_list, "sub@example.org", post_committed, mailoutbox)

    assert "Approved: check your inbox" in text(answer)
    request = AccessRequest.objects.get()
    assert (request.status, request.auto_approved, request.decided_by) == ("approved", True, None)
    assert Grant.objects.filter(request=request).exists()
    assert mailoutbox[-1].subject == "Your download link for MDTP topic list"


def test_an_address_in_a_listed_domain_is_approved_at_once(topic_list, post_committed, mailoutbox):
    topic_list.auto_approve_domains = "uni.example\n@lab.example\n"
    topic_list.save()
    ask_and_verify(topic_list, "Prof@Lab.example", post_committed, mailoutbox)
    assert AccessRequest.objects.get().status == "approved"


def test_ticking_updates_does_not_pass_the_subscriber_rule_by_itself(
    topic_list, post_committed, mailoutbox
):
    topic_list.auto_approve_subscribers = True
    topic_list.save()
    answer = ask_and_verify(
        topic_list, "new@example.org", post_committed, mailoutbox, want_updates="on"
    )
    assert "will review your request" in text(answer)
    assert AccessRequest.objects.get().status == "pending"
    assert Subscriber.objects.get().status == "confirmed"  # subscribed, but reviewed as a stranger


def test_without_a_rule_a_verified_request_waits_for_review(topic_list, post_committed, mailoutbox):
    topic_list.auto_approve_domains = "uni.example"
    topic_list.save()
    ask_and_verify(topic_list, "ann@example.org", post_committed, mailoutbox)
    assert AccessRequest.objects.get().status == "pending"
    assert not Grant.objects.exists()
