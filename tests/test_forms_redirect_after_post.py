"""Every visitor form that does its work answers the POST with a 303 to a page of the result, so a
reload (or Back and reload) shows the result again and never sends the form twice: subscribe,
confirm, preferences, the unsubscribe button of our pages, erase. (The RFC 8058 one-click POST of a
mail client keeps its plain 200; tests/test_one_click_unsubscribe.py.)"""

from __future__ import annotations

import pytest
from django.urls import reverse

from subscriptions import tokens
from subscriptions.models import Subscriber, SubscriberEvent
from tests import reading_helpers
from tests.forms import page_form, page_forms
from tests.mails import mailed_path
from tests.pages import text
from tests.reading_helpers import ADDRESS

pytestmark = pytest.mark.django_db

# The shared fixtures of tests/reading_helpers.py.
visitor, guide_with_sections, reader = (
    reading_helpers.visitor,
    reading_helpers.guide_with_sections,
    reading_helpers.reader,
)
Kind = SubscriberEvent.Kind


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


def events(kind: str) -> int:
    return SubscriberEvent.objects.filter(kind=kind).count()


def reload_twice(visitor, location: str):
    """What a reader's reloads of the result page send: GETs only."""
    visitor.get(location)
    return visitor.get(location)


def test_subscribing_redirects_to_the_check_your_inbox_page(
    guide_with_sections, visitor, post_committed, mailoutbox
):
    form = page_form(visitor.get("/subscribe/"), "/subscribe/")

    answer = post_committed(visitor, form.action, form.data(email=[ADDRESS]))
    page = reload_twice(visitor, answer["Location"])

    assert (answer.status_code, answer["Location"]) == (303, "/subscribe/sent/")
    assert "Check your inbox" in text(page)
    assert len(mailoutbox) == 1
    assert events(Kind.SUBSCRIBED) == 1


def test_a_bot_gets_the_same_redirect_and_nothing_is_stored(
    guide_with_sections, visitor, post_committed, mailoutbox
):
    form = page_form(visitor.get("/subscribe/"), "/subscribe/")

    answer = post_committed(visitor, form.action, form.data(email=[ADDRESS], website=["x.org"]))

    assert (answer.status_code, answer["Location"]) == (303, "/subscribe/sent/")
    assert not Subscriber.objects.exists()
    assert mailoutbox == []


def test_confirming_redirects_to_the_page_restating_the_choices(
    guide_with_sections, visitor, post_committed, mailoutbox, settings
):
    form = page_form(visitor.get("/subscribe/"), "/subscribe/")
    post_committed(visitor, form.action, form.data(email=[ADDRESS]))
    link = mailed_path(mailoutbox[-1].body, "/confirm/")
    button = page_form(visitor.get(link), link)

    answer = post_committed(visitor, button.action, button.data())
    page = reload_twice(visitor, answer["Location"])

    subscriber = Subscriber.objects.get()
    assert answer.status_code == 303
    assert answer["Location"] == reverse(
        "subscriptions:confirmed", args=[tokens.manage_token(subscriber)]
    )
    assert "You are subscribed" in text(page)
    assert events(Kind.CONFIRMED) == 1
    assert [m.subject for m in mailoutbox].count("Welcome to MLMW guide updates") == 1


def test_saving_preferences_redirects_to_the_preferences_page_saying_saved(reader, visitor):
    path = reverse("subscriptions:manage", args=[tokens.manage_token(reader)])
    form = page_form(visitor.get(path), path)

    answer = visitor.post(form.action, form.data(cadence=["major"]))
    page = reload_twice(visitor, answer["Location"])

    assert (answer.status_code, answer["Location"]) == (303, path + "?saved=1")
    assert "Your preferences are saved." in text(page)
    assert "Your preferences are saved." not in text(visitor.get(path))
    assert events(Kind.PREFERENCES) == 1


def test_the_unsubscribe_button_of_our_pages_redirects_to_the_unsubscribed_page(reader, visitor):
    path = reverse("subscriptions:manage", args=[tokens.manage_token(reader)])
    [form] = [f for f in page_forms(visitor.get(path)) if f.action.startswith("/unsubscribe/")]

    answer = visitor.post(form.action, form.data())
    page = reload_twice(visitor, answer["Location"])

    assert (answer.status_code, answer["Location"]) == (303, form.action)
    assert "You are unsubscribed" in text(page)
    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED
    assert events(Kind.UNSUBSCRIBED) == 1


def test_erasing_redirects_to_the_erased_page(reader, visitor):
    path = reverse("subscriptions:manage", args=[tokens.manage_token(reader)])
    form = page_form(visitor.get(path), path + "erase/")

    answer = visitor.post(form.action, form.data(confirm=["yes"]))
    page = reload_twice(visitor, answer["Location"])

    assert (answer.status_code, answer["Location"]) == (303, "/erased/")
    assert "Your data is erased" in text(page)
    assert not Subscriber.objects.exists()
