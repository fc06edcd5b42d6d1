"""A second click on a confirmation link that was used says "already confirmed": not an error page,
no second welcome, nothing changed. The page is the same for every address, naming none and linking
to no one's preferences, so a link says nothing about anyone but that it was used."""

from __future__ import annotations

import pytest
from django.test import Client

from subscriptions.models import Subscriber, SubscriberEvent
from tests.forms import page_forms
from tests.mails import mailed_path
from tests.pages import links, text

pytestmark = pytest.mark.django_db
WELCOME = "Welcome to MLMW guide updates"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def used_link(guide, client, post_committed, mailoutbox, settings):
    """Subscribe and confirm an address; returns the path of its (now used) confirmation link."""
    settings.CONFIRMATION_RESEND_SECONDS = 0

    def used_link(address: str) -> str:
        post_committed(client, "/subscribe/", {"email": address})
        [link] = [
            mailed_path(m.body, "/confirm/")
            for m in mailoutbox
            if m.to == [address] and m.subject.startswith("Confirm")
        ]
        assert post_committed(client, link).status_code == 303
        return link

    return used_link


def welcomes(mailoutbox) -> int:
    return sum(1 for m in mailoutbox if m.subject == WELCOME)


def test_a_second_click_says_already_confirmed_and_sends_no_second_welcome(
    used_link, post_committed, mailoutbox
):
    link = used_link("ann@example.org")
    ann = Subscriber.objects.get()
    events, mails = ann.events.count(), len(mailoutbox)

    opened = Client().get(link)
    pressed = post_committed(Client(), link)

    for response in (opened, pressed):
        assert response.status_code == 200
        page = text(response)
        assert "Already confirmed" in page
        assert "not valid" not in page and "expired" not in page and "Get a new link" not in page
    assert welcomes(mailoutbox) == 1
    assert len(mailoutbox) == mails
    assert ann.events.count() == events
    assert SubscriberEvent.objects.filter(kind=SubscriberEvent.Kind.CONFIRMED).count() == 1


def test_the_already_confirmed_page_names_no_address_and_links_no_preferences(used_link):
    ann = Client().get(used_link("ann@example.org"))
    bob = Client().get(used_link("bob@example.org"))

    assert ann.content == bob.content  # the same page for everyone
    assert b"ann@" not in ann.content
    assert not [href for _, href in links(ann) if "/manage/" in href or "/unsubscribe/" in href]
    assert [form.method for form in page_forms(ann)] == ["get"]  # the site search only


def test_a_link_replaced_before_confirming_still_says_so_after_the_other_link_confirmed(
    guide, client, post_committed, mailoutbox, settings
):
    # The subscriber is confirmed, through the newer link: the older one is theirs too.
    settings.CONFIRMATION_RESEND_SECONDS = 0
    post_committed(client, "/subscribe/", {"email": "ann@example.org"})
    old = mailed_path(mailoutbox[-1].body, "/confirm/")
    post_committed(client, "/subscribe/", {"email": "ann@example.org"})
    new = mailed_path(mailoutbox[-1].body, "/confirm/")
    refused_while_pending = Client().get(old)
    post_committed(client, new)

    after = Client().get(old)

    assert refused_while_pending.status_code == 410
    assert "already used" in text(refused_while_pending)
    assert (after.status_code, "Already confirmed" in text(after)) == (200, True)
    assert welcomes(mailoutbox) == 1
