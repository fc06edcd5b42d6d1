"""The whole visitor journey over real HTTP requests, with the mail caught by a real SMTP server.

Home page form → /subscribe/ → "Check your inbox" → the confirmation mail as it left over SMTP →
the link's Confirm page → the Confirm button → consent recorded → the preferences page.
The database is transactional, so the request really commits and its on-commit mail task runs.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from subscriptions.models import Subscriber, SubscriberEvent
from tests.forms import page_form, page_forms
from tests.mails import mailed_path
from tests.pages import links, text

Kind = SubscriberEvent.Kind
BROWSER_IP = "203.0.113.7"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) end-to-end test browser"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.mark.django_db(transaction=True)
def test_a_visitor_subscribes_from_the_home_page_and_confirms_through_the_mailed_link(
    v0_10_0, smtp_server
):
    guide = v0_10_0.guide
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR=BROWSER_IP, HTTP_USER_AGENT=BROWSER_UA)

    # The home page carries the full subscribe form (and a compact one per guide), CSRF included.
    home = browser.get(reverse("guide:home"))
    assert home.status_code == 200
    (form,) = [f for f in page_forms(home) if f.action == "/subscribe/" and "cadence" in f.names]
    assert form.method == "post"
    assert re.fullmatch(r"[A-Za-z0-9]{64}", form.fields["csrfmiddlewaretoken"][0])
    assert {"email", "guides", "cadence", "website", "source"} <= set(form.names)
    assert form.fields["source"] == ["home"]
    assert form.fields["website"] == [""]  # the honeypot, left empty as a person leaves it

    answer = browser.post(
        form.action,
        form.data(email=["  ann@exämple.org "], guides=[str(guide.pk)], cadence=["minor"]),
    )
    assert (answer.status_code, answer["Location"]) == (303, "/subscribe/sent/")
    assert "Check your inbox" in text(browser.get(answer["Location"]))

    subscriber = Subscriber.objects.get()
    assert subscriber.email == "ann@xn--exmple-cua.org"
    assert subscriber.status == Subscriber.Status.PENDING
    assert (subscriber.cadence, subscriber.source) == ("minor", "home")
    assert list(subscriber.guides.all()) == [guide]

    # Exactly one mail left over SMTP, to the address in IDNA form.
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ("ann@xn--exmple-cua.org",)
    assert mail.mail_from == "updates@mlmw.example"
    assert mail.header("To") == "ann@xn--exmple-cua.org"
    assert mail.subject == "Confirm your subscription to MLMW guide updates"
    # Nobody is on the list yet: the confirmation is no list mail.
    assert mail.header("List-Unsubscribe") is None
    assert mail.header("List-Unsubscribe-Post") is None
    assert mail.header("List-Id") is None
    assert mail.header("Auto-Submitted") == "auto-generated"
    assert mail.message.get_content_type() == "multipart/alternative"
    confirm_path = mailed_path(mail.text, "/confirm/")
    assert mailed_path(mail.html, "/confirm/") == confirm_path
    assert "expires in 72 hours" in mail.text

    # Opening the link (as a mail scanner would) shows a Confirm button and changes nothing.
    confirm_page = browser.get(confirm_path)
    assert confirm_page.status_code == 200
    assert "Confirm my subscription" in text(confirm_page)
    confirm_form = page_form(confirm_page, confirm_path)
    assert confirm_form.method == "post"
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.confirmed_at is None and subscriber.consent_at is None
    assert not subscriber.events.filter(kind=Kind.CONFIRMED).exists()

    # Only the button's POST confirms, and it records consent.
    confirmed = browser.post(confirm_form.action, confirm_form.data(), follow=True)
    assert confirmed.redirect_chain[0][1] == 303
    assert confirmed.status_code == 200
    assert "You are subscribed" in text(confirmed)
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert subscriber.confirmed_at is not None
    assert subscriber.consent_at == subscriber.confirmed_at
    assert subscriber.consent_ip == BROWSER_IP
    assert subscriber.consent_user_agent == BROWSER_UA
    assert subscriber.source == "home"
    assert subscriber.confirm_nonce == ""
    assert list(subscriber.events.order_by("id").values_list("kind", flat=True)) == [
        Kind.SUBSCRIBED,
        Kind.CONFIRMATION_SENT,
        Kind.CONFIRMED,
    ]
    # Confirming sends the welcome, and nothing else.
    assert [m.subject for m in smtp_server.messages] == [
        "Confirm your subscription to MLMW guide updates",
        "Welcome to MLMW guide updates",
    ]

    # The confirmation page links to the preferences page, which knows the subscriber.
    [manage_href] = [href for label, href in links(confirmed) if "change what you receive" in label]
    manage = browser.get(manage_href)
    assert manage.status_code == 200
    assert "Address: ann@xn--exmple-cua.org · status: confirmed" in text(manage)
    assert page_form(manage, manage_href).fields["cadence"] == ["minor"]


# Not "page": that name is pytest-playwright's browser page fixture.
@pytest.mark.parametrize("path", ["/", "/guides/mlmw/", "/subscribe/"])
def test_the_honeypot_is_out_of_reach_of_people_their_keyboards_and_autofill(path, v0_10_0, client):
    # A person whose browser filled the honeypot would be taken for a bot and silently dropped.
    html = client.get(path).content.decode()

    [field] = re.findall(r'<p class="hp" aria-hidden="true">.*?</p>', html)
    [honeypot] = re.findall(r"<input [^>]*>", field)
    assert 'name="website"' in honeypot
    assert 'tabindex="-1"' in honeypot
    assert 'autocomplete="off"' in honeypot
    assert "required" not in honeypot
