"""What a visitor types into the access-request form (name, reason) never appears in a mail we send.

The form mails any address typed in, so its free text would be someone else's words in our mail to a
stranger ("Hello Ann, URGENT: log in at ..."). The only free text in our mails is the editor's note.
"""

from __future__ import annotations

import pytest
from django.test import Client

from access import lifecycle
from access.models import AccessRequest
from subscriptions.lifecycle import Request
from tests.conftest import make_artifact
from tests.mails import mailed_path

NAME = "Ann,\n\nURGENT: your access expires. Log in at https://evil.example/x"
REASON = "Click https://evil.example/y now"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


def bodies(mail) -> list[str]:
    return [mail.subject, mail.body, *(content for content, _ in mail.alternatives)]


def assert_no_visitor_text(mail) -> None:
    for body in bodies(mail):
        assert "evil.example" not in body
        assert "URGENT" not in body


@pytest.fixture
def verified_request(
    guide, media_root, post_committed, mailoutbox, django_capture_on_commit_callbacks
):
    artifact = make_artifact(guide)
    data = {"email": "ann@example.org", "name": NAME, "reason": REASON}
    post_committed(Client(), artifact.get_request_url(), data)
    (verify_mail,) = mailoutbox
    assert_no_visitor_text(verify_mail)
    token = mailed_path(verify_mail.body, "/access/verify/").split("/")[-2]
    with django_capture_on_commit_callbacks(execute=True):
        request = lifecycle.verify(token, Request(ip="198.51.100.7"))
    assert request.name.startswith("Ann")  # kept for the editor, in the admin only
    return request


def test_the_verification_and_grant_mails_carry_none_of_the_visitors_words(
    verified_request, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.approve(verified_request, by=None, message="Enjoy the list!")
    granted = mailoutbox[-1]
    assert "Your request" in granted.body and "Enjoy the list!" in granted.body
    assert_no_visitor_text(granted)


def test_the_denial_mail_carries_none_of_the_visitors_words(
    verified_request, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.deny(verified_request, by=None, message="Not this time.")
    denied = mailoutbox[-1]
    assert "Not this time." in denied.body
    assert_no_visitor_text(denied)
    assert AccessRequest.objects.get().status == "denied"
