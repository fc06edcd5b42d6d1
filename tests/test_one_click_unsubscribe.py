"""RFC 8058 one-click unsubscribe, exactly as the issue states the contract.

Every list mail carries `List-Unsubscribe: <https://…/unsubscribe/TOKEN/>` (no mailto: nothing would
read that mailbox) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`; the confirmation mail,
sent before anyone is on the list, carries neither. A POST to that URL with the body
`List-Unsubscribe=One-Click` (form-encoded or multipart), with no cookie and no CSRF token,
unsubscribes and answers 200 with no redirect. Repeating it is harmless; GET only shows a button;
a tampered token changes nothing; the token never expires and names no address.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from subscriptions.models import Subscriber, SubscriberEvent
from tests.forms import page_form
from tests.mails import mailed_path
from tests.pages import text

Kind = SubscriberEvent.Kind
ADDRESS = "ann.lee+guides@example.org"
HEADER = re.compile(r"<(?P<url>https?://[^>]+)>")


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def mail(guide, client, post_committed, smtp_server, settings):
    """The first list mail ADDRESS gets over SMTP once confirmed (the "already subscribed" note; the
    confirmation before it is no list mail)."""
    settings.CONFIRMATION_RESEND_SECONDS = 0
    post_committed(client, "/subscribe/", {"email": ADDRESS}, follow=True)
    [confirmation] = smtp_server.messages
    post_committed(client, mailed_path(confirmation.text, "/confirm/"), follow=True)
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED
    post_committed(client, "/subscribe/", {"email": ADDRESS}, follow=True)
    received = smtp_server.messages[-1]
    assert received.subject == "You are already subscribed to MLMW guide updates"
    return received


@pytest.fixture
def url(mail) -> str:
    """The one-click URL, exactly as the List-Unsubscribe header gives it."""
    match = HEADER.fullmatch(mail.header("List-Unsubscribe"))
    assert match, mail.header("List-Unsubscribe")
    return match["url"]


def mail_client() -> Client:
    """A mail provider's HTTP client: CSRF checks on, and never a cookie."""
    fresh = Client(enforce_csrf_checks=True)
    assert not fresh.cookies
    return fresh


def one_click(url: str, encoding: str):
    if encoding == "form-encoded":
        response = mail_client().post(
            url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
    else:  # the test client's default encoding is multipart/form-data
        response = mail_client().post(url, {"List-Unsubscribe": "One-Click"})
    sent = response.wsgi_request
    assert not sent.META.get("HTTP_COOKIE") and not sent.COOKIES
    assert "csrfmiddlewaretoken" not in sent.POST and "HTTP_X_CSRFTOKEN" not in sent.META
    assert (
        sent.content_type
        == {
            "form-encoded": "application/x-www-form-urlencoded",
            "multipart": "multipart/form-data",
        }[encoding]
    )
    return response


def unsubscribed_events() -> int:
    return SubscriberEvent.objects.filter(kind=Kind.UNSUBSCRIBED).count()


def test_the_list_mail_carries_the_one_click_url_the_post_header_and_no_mailto(mail, url):
    assert url.startswith("http://testserver/unsubscribe/")  # SITE_URL of the suite
    assert url.endswith("/")
    assert mail.header("List-Unsubscribe") == f"<{url}>"  # no mailto: nothing would read it
    assert mail.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert mailed_path(mail.text, "/unsubscribe/") == url.removeprefix("http://testserver")


def test_the_confirmation_mail_carries_no_list_headers(guide, client, post_committed, smtp_server):
    post_committed(client, "/subscribe/", {"email": ADDRESS}, follow=True)

    [confirmation] = smtp_server.messages
    assert confirmation.header("List-Unsubscribe") is None
    assert confirmation.header("List-Unsubscribe-Post") is None
    assert confirmation.header("List-Id") is None
    assert confirmation.header("Auto-Submitted") == "auto-generated"


def test_the_https_scheme_comes_from_site_url(guide, client, post_committed, smtp_server, settings):
    settings.SITE_URL = "https://updates.mlmw.example"
    Subscriber.objects.create(
        email=ADDRESS, email_key=ADDRESS.lower(), status="confirmed", confirmed_at=timezone.now()
    )
    post_committed(client, "/subscribe/", {"email": ADDRESS}, follow=True)

    [received] = smtp_server.messages
    header = received.header("List-Unsubscribe")
    assert HEADER.fullmatch(header)["url"].startswith("https://updates.mlmw.example/unsubscribe/")


@pytest.mark.parametrize("encoding", ["form-encoded", "multipart"])
def test_one_click_post_without_cookie_or_csrf_unsubscribes_and_answers_200_without_redirect(
    encoding, url
):
    before = timezone.now()

    response = one_click(url, encoding)

    assert response.status_code == 200
    assert "Location" not in response
    assert "You are unsubscribed" in text(response)
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert subscriber.unsubscribed_at is not None and subscriber.unsubscribed_at >= before
    assert subscriber.events.get(kind=Kind.UNSUBSCRIBED).detail == "one-click link"


@pytest.mark.parametrize("encoding", ["form-encoded", "multipart"])
def test_repeating_the_one_click_post_is_harmless(encoding, url):
    one_click(url, encoding)
    unsubscribed_at = Subscriber.objects.get().unsubscribed_at

    again = one_click(url, encoding)

    assert again.status_code == 200
    assert "Location" not in again
    assert "You are unsubscribed" in text(again)
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert subscriber.unsubscribed_at == unsubscribed_at
    assert unsubscribed_events() == 1


def test_get_shows_a_page_with_a_button_and_changes_nothing(url):
    path = url.removeprefix("http://testserver")

    page = mail_client().get(url)

    assert page.status_code == 200
    assert "Unsubscribe from MLMW guide updates" in text(page)
    form = page_form(page, path)
    assert form.method == "post"
    # The one-click body, and a mark that it came from our page (answered with a redirect).
    assert form.fields == {"List-Unsubscribe": ["One-Click"], "from": ["page"]}
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED
    assert unsubscribed_events() == 0
    # The button sends the same one-click body, so it works without cookies too.
    pressed = mail_client().post(form.action, form.data(), follow=True)
    assert "You are unsubscribed" in text(pressed)
    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED


def flip(url: str, index_in_signature: int) -> str:
    head, token = url.rstrip("/").rsplit("/", 1)
    uid, signature = token.split(":")
    i = index_in_signature % len(signature)
    signature = signature[:i] + ("A" if signature[i] != "A" else "B") + signature[i + 1 :]
    return f"{head}/{uid}:{signature}/"


@pytest.mark.parametrize("where", [0, 10, -1])
def test_a_tampered_token_changes_nothing(where, url):
    bad = flip(url, where)
    assert bad != url

    response = one_click(bad, "form-encoded")
    page = mail_client().get(bad)

    assert response.status_code != 200
    assert "This link is not valid" in text(response)
    assert page.status_code != 200
    assert "This link is not valid" in text(page)
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED
    assert unsubscribed_events() == 0


def test_a_token_naming_someone_else_changes_nothing(url):
    # Another subscriber's uid with this subscriber's signature is a forgery, not their link.
    other = Subscriber.objects.create(email="bob@example.org", email_key="bob@example.org")
    head, token = url.rstrip("/").rsplit("/", 1)
    forged = f"{head}/{other.uid.hex}:{token.split(':')[1]}/"

    response = one_click(forged, "multipart")

    assert response.status_code != 200
    assert set(Subscriber.objects.values_list("status", flat=True)) == {"confirmed", "pending"}


def test_the_token_never_expires(url):
    with time_machine.travel(timezone.now() + timedelta(days=3653), tick=False):
        response = one_click(url, "form-encoded")

    assert response.status_code == 200
    assert "You are unsubscribed" in text(response)
    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED


def test_the_token_does_not_contain_the_address(url):
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert ADDRESS not in token.lower()
    # Not "ann" in the token's text: its random signature spells any three letters now and then.
    assert "example" not in token.lower()
    for part in re.split(r"[:.]", token):
        for decoder in (base64.urlsafe_b64decode, base64.b64decode):
            try:
                decoded = decoder(part + "=" * (-len(part) % 4))
            except (binascii.Error, ValueError):
                continue
            assert b"ann" not in decoded.lower() and b"example" not in decoded.lower()


@pytest.mark.parametrize(
    "body",
    [
        "",
        "List-Unsubscribe=Yes",
        "list-unsubscribe=one-click",
        "unsubscribe=1",
    ],
    ids=["empty", "other value", "wrong case", "other field"],
)
def test_a_post_without_the_one_click_body_does_not_unsubscribe(body, url):
    response = mail_client().post(url, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert "List-Unsubscribe=One-Click" in response.content.decode()
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED
    assert unsubscribed_events() == 0


def test_a_pending_subscriber_can_unsubscribe_from_the_confirmation_mails_footer_link(
    guide, client, post_committed, smtp_server
):
    post_committed(client, "/subscribe/", {"email": ADDRESS}, follow=True)
    [received] = smtp_server.messages
    url = "http://testserver" + mailed_path(received.text, "/unsubscribe/")

    response = one_click(url, "multipart")

    assert "You are unsubscribed" in text(response)
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    # The confirmation link in the same mail no longer confirms.
    confirm = post_committed(client, mailed_path(received.text, "/confirm/"), follow=True)
    assert confirm.status_code == 410
    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED
