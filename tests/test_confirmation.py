"""Double opt-in: the mailed link shows a Confirm button; only its POST confirms, once, within 72 hours.

An expired, replaced or tampered link says so, changes nothing and offers a new link; a second
press of a link that confirmed says "already confirmed".
Confirming records consent: when, from which IP and user agent, and which form it came from.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from subscriptions.models import Subscriber, SubscriberEvent
from tests.forms import page_form
from tests.mails import mailed_path
from tests.pages import text

Kind = SubscriberEvent.Kind
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
ADDRESS = "ann@example.org"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def subscribe(client, post_committed, mailoutbox):
    """Subscribe ADDRESS through the form; returns the path of the link in the mail just sent."""

    def subscribe(address: str = ADDRESS) -> str:
        sent_before = len(mailoutbox)
        response = post_committed(client, "/subscribe/", {"email": address}, follow=True)
        assert "Check your inbox" in text(response)
        assert len(mailoutbox) == sent_before + 1, "no confirmation mail was sent"
        return mailed_path(mailoutbox[-1].body, "/confirm/")

    return subscribe


def confirmed_events() -> int:
    return SubscriberEvent.objects.filter(kind=Kind.CONFIRMED).count()


def assert_still_pending() -> None:
    subscriber = Subscriber.objects.get(email_key=ADDRESS)
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.confirmed_at is None and subscriber.consent_at is None
    assert confirmed_events() == 0


def tampered(path: str) -> str:
    """The path with one character of the token's signature changed."""
    prefix, token, _ = path.rsplit("/", 2)
    i = token.rindex(":") + 5
    token = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    return f"{prefix}/{token}/"


def test_opening_the_link_shows_a_confirm_button_and_confirms_nothing(guide, client, subscribe):
    link = subscribe()

    for _ in range(3):  # a mail scanner, a preview, the person
        page = client.get(link)
        assert page.status_code == 200
        assert "Confirm your subscription" in text(page)
        assert "Confirm my subscription" in text(page)  # the button
        assert page_form(page, link).method == "post"

    assert_still_pending()


def test_confirming_records_consent_time_ip_user_agent_and_the_form_it_came_from(
    v0_10_0, post_committed, mailoutbox
):
    guide = v0_10_0.guide
    browser = Client(
        enforce_csrf_checks=True, REMOTE_ADDR="2001:db8::7", HTTP_USER_AGENT="Firefox/140 test"
    )
    with time_machine.travel(T0, tick=False) as traveller:
        guide_page = browser.get(f"/guides/{guide.slug}/")
        form = page_form(guide_page, "/subscribe/")
        assert form.fields["source"] == [guide.slug]
        assert form.fields["guides"] == [str(guide.pk)]  # this guide, pre-ticked
        post_committed(browser, form.action, form.data(email=ADDRESS), follow=True)
        link = mailed_path(mailoutbox[-1].body, "/confirm/")

        traveller.move_to(T0 + timedelta(hours=5))
        page = browser.get(link)
        confirm = page_form(page, link)
        response = post_committed(browser, confirm.action, confirm.data(), follow=True)

    assert "You are subscribed" in text(response)
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert subscriber.confirmed_at == subscriber.consent_at == T0 + timedelta(hours=5)
    assert subscriber.consent_ip == "2001:db8::7"
    assert subscriber.consent_user_agent == "Firefox/140 test"
    assert subscriber.source == guide.slug
    assert list(subscriber.guides.all()) == [guide]
    assert subscriber.events.get(kind=Kind.CONFIRMED).detail == "from 2001:db8::7"


def test_the_link_works_once_and_a_second_press_says_already_confirmed(
    guide, client, post_committed, subscribe
):
    link = subscribe()
    first = post_committed(client, link, follow=True)
    confirmed_at = Subscriber.objects.get().confirmed_at

    second = post_committed(client, link, follow=True)

    assert "You are subscribed" in text(first)
    assert second.status_code == 200
    assert "Already confirmed" in text(second)
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert subscriber.confirmed_at == confirmed_at
    assert confirmed_events() == 1
    # Opening the used link afterwards says the same, and still changes nothing.
    again = client.get(link)
    assert (again.status_code, "Already confirmed" in text(again)) == (200, True)
    assert confirmed_events() == 1


def test_the_link_still_confirms_one_minute_before_72_hours(
    guide, client, post_committed, subscribe
):
    with time_machine.travel(T0, tick=False) as traveller:
        link = subscribe()
        traveller.move_to(T0 + timedelta(hours=71, minutes=59))
        page = client.get(link)
        response = post_committed(client, link, follow=True)

    assert page.status_code == 200
    assert "You are subscribed" in text(response)
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED


def test_the_link_has_expired_one_minute_after_72_hours_and_offers_a_new_one(
    guide, client, post_committed, subscribe, mailoutbox
):
    with time_machine.travel(T0, tick=False) as traveller:
        link = subscribe()
        assert "expires in 72 hours" in mailoutbox[-1].body
        traveller.move_to(T0 + timedelta(hours=72, minutes=1))
        page = client.get(link)
        pressed = post_committed(client, link, follow=True)

    for response in (page, pressed):
        assert response.status_code == 410
        assert "This confirmation link has expired" in text(response)
        assert "Get a new link" in text(response)
        new_link_form = page_form(response, "/subscribe/")
        assert new_link_form.method == "post"
        assert "email" in new_link_form.names
    assert_still_pending()


def test_the_confirmation_max_age_setting_changes_when_the_link_expires(
    guide, client, subscribe, mailoutbox, settings
):
    settings.CONFIRMATION_MAX_AGE_HOURS = 2
    with time_machine.travel(T0, tick=False) as traveller:
        link = subscribe()
        traveller.move_to(T0 + timedelta(hours=1, minutes=59))
        before = client.get(link)
        traveller.move_to(T0 + timedelta(hours=2, minutes=1))
        after = client.get(link)

    assert "expires in 2 hours" in mailoutbox[-1].body
    assert before.status_code == 200
    assert "Confirm my subscription" in text(before)
    assert after.status_code == 410
    assert "This confirmation link has expired" in text(after)
    assert_still_pending()


def test_a_new_link_voids_the_old_one(
    guide, client, post_committed, subscribe, mailoutbox, settings
):
    with time_machine.travel(T0, tick=False) as traveller:
        old = subscribe()
        traveller.move_to(T0 + timedelta(seconds=settings.CONFIRMATION_RESEND_SECONDS + 1))
        new = subscribe()
        old_pressed = post_committed(client, old, follow=True)
        still_pending = Subscriber.objects.get().status
        new_pressed = post_committed(client, new, follow=True)

    assert old != new
    assert [m.subject for m in mailoutbox] == [
        "Confirm your subscription to MLMW guide updates",
        "Confirm your subscription to MLMW guide updates",
        "Welcome to MLMW guide updates",
    ]
    assert old_pressed.status_code == 410
    assert "Get a new link" in text(old_pressed)
    assert "You are subscribed" not in text(old_pressed)
    assert still_pending == Subscriber.Status.PENDING
    assert "You are subscribed" in text(new_pressed)
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED
    assert confirmed_events() == 1


@pytest.mark.parametrize("how", ["signature changed", "garbage", "truncated"])
def test_a_tampered_link_is_not_valid_and_changes_nothing(
    how, guide, client, post_committed, subscribe
):
    link = subscribe()
    bad = {
        "signature changed": tampered(link),
        "garbage": "/confirm/not-a-token/",
        "truncated": link[:-12] + "/",
    }[how]
    events_before = list(SubscriberEvent.objects.values_list("kind", flat=True))

    page = client.get(bad)
    pressed = post_committed(client, bad, follow=True)

    for response in (page, pressed):
        assert response.status_code == 400
        assert "This confirmation link is not valid" in text(response)
        assert page_form(response, "/subscribe/").method == "post"
    assert_still_pending()
    assert list(SubscriberEvent.objects.values_list("kind", flat=True)) == events_before
    # The real link still works afterwards.
    assert "You are subscribed" in text(post_committed(client, link, follow=True))


def test_the_expired_page_form_sends_a_fresh_link_that_confirms(
    guide, post_committed, subscribe, mailoutbox
):
    browser = Client(enforce_csrf_checks=True)
    with time_machine.travel(T0, tick=False) as traveller:
        old = subscribe()
        traveller.move_to(T0 + timedelta(hours=80))
        expired = browser.get(old)
        form = page_form(expired, "/subscribe/")
        answer = post_committed(browser, form.action, form.data(email=ADDRESS), follow=True)
        assert "Check your inbox" in text(answer)
        assert len(mailoutbox) == 2
        assert mailoutbox[-1].to == [ADDRESS]
        fresh = mailed_path(mailoutbox[-1].body, "/confirm/")
        confirm = page_form(browser.get(fresh), fresh)
        confirmed = post_committed(browser, confirm.action, confirm.data(), follow=True)

    assert fresh != old
    assert "You are subscribed" in text(confirmed)
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED


@pytest.mark.parametrize("forged", ["import", "access-mlmw", "admin", "x" * 60])
def test_the_source_in_the_consent_record_is_one_of_our_pages_never_what_a_visitor_sent(
    guide, client, post_committed, forged
):
    post_committed(client, "/subscribe/", {"email": ADDRESS, "source": forged}, follow=True)

    subscriber = Subscriber.objects.get()
    assert subscriber.source == "form"
    assert subscriber.events.get(kind=Kind.SUBSCRIBED).detail == "via form"
