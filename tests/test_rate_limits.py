"""Abuse limits of /subscribe/: per IP, per mailbox, and one confirmation mail per address per window.

Over a limit nothing is stored and nothing is sent, yet the visitor sees the same "check your inbox"
page as always. The counters live in the Django cache, which is emptied around every test here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache

from subscriptions.models import Subscriber
from tests.mails import mailed_path
from tests.pages import text

T0 = datetime(2026, 11, 2, 9, 0, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Every test starts with no counters."""


@pytest.fixture
def subscribe(client, post_committed):
    def subscribe(address: str, ip: str = "203.0.113.1"):
        response = post_committed(
            client, "/subscribe/", {"email": address}, REMOTE_ADDR=ip, follow=True
        )
        assert response.status_code == 200
        assert "Check your inbox" in text(response)
        return response

    return subscribe


def stored() -> list[str]:
    return sorted(Subscriber.objects.values_list("email", flat=True))


def test_over_the_per_ip_limit_nothing_is_stored_or_sent_but_the_page_is_the_same(
    guide, subscribe, mailoutbox, settings
):
    settings.SUBSCRIBE_RATE_PER_IP = "3/h"
    answers = [subscribe(f"person{n}@example.org", ip="203.0.113.9") for n in range(3)]

    over = subscribe("late@example.org", ip="203.0.113.9")

    assert stored() == ["person0@example.org", "person1@example.org", "person2@example.org"]
    assert sorted(m.to[0] for m in mailoutbox) == stored()
    assert over.content == answers[0].content
    # Another IP is not held back by this one.
    subscribe("late@example.org", ip="198.51.100.20")
    assert "late@example.org" in stored()
    assert mailoutbox[-1].to == ["late@example.org"]


def test_the_per_ip_limit_counts_in_the_django_cache_and_lifts_when_its_window_ends(
    guide, subscribe, mailoutbox, settings
):
    settings.SUBSCRIBE_RATE_PER_IP = "1/h"
    with time_machine.travel(T0, tick=False) as traveller:
        subscribe("first@example.org", ip="203.0.113.9")
        subscribe("second@example.org", ip="203.0.113.9")
        assert stored() == ["first@example.org"]

        cache.clear()  # the counters are in the cache: without them the limit starts over
        subscribe("second@example.org", ip="203.0.113.9")
        assert stored() == ["first@example.org", "second@example.org"]

        subscribe("third@example.org", ip="203.0.113.9")
        traveller.move_to(T0 + timedelta(hours=1))
        subscribe("third@example.org", ip="203.0.113.9")

    assert stored() == ["first@example.org", "second@example.org", "third@example.org"]
    assert [m.to[0] for m in mailoutbox] == stored()


def test_dotted_and_tagged_variants_count_as_one_mailbox(guide, subscribe, mailoutbox, settings):
    settings.SUBSCRIBE_RATE_PER_MAILBOX = "2/h"
    # Different IPs, so only the mailbox limit can apply.
    subscribe("a.nn+x@example.org", ip="203.0.113.1")
    subscribe("ann+y@example.org", ip="203.0.113.2")

    over = subscribe("ann@example.org", ip="203.0.113.3")
    also_over = subscribe("A.N.N+z@EXAMPLE.org", ip="203.0.113.4")

    assert stored() == ["a.nn+x@example.org", "ann+y@example.org"]
    assert [m.to for m in mailoutbox] == [["a.nn+x@example.org"], ["ann+y@example.org"]]
    assert over.content == also_over.content
    # Another mailbox at the same domain, and the same name at another domain, are not affected.
    subscribe("bob@example.org", ip="203.0.113.5")
    subscribe("ann@example.net", ip="203.0.113.6")
    assert stored() == [
        "a.nn+x@example.org",
        "ann+y@example.org",
        "ann@example.net",
        "bob@example.org",
    ]


def test_one_confirmation_mail_per_address_per_resend_window(
    guide, subscribe, mailoutbox, settings
):
    settings.CONFIRMATION_RESEND_SECONDS = 600
    settings.SUBSCRIBE_RATE_PER_MAILBOX = "10/d"  # only the resend window applies here
    with time_machine.travel(T0, tick=False) as traveller:
        subscribe("ann@example.org")
        first_link = mailed_path(mailoutbox[0].body, "/confirm/")

        traveller.move_to(T0 + timedelta(seconds=599))
        subscribe("ann@example.org")
        subscribe("Ann@Example.org")  # the same address in another case is the same address
        assert len(mailoutbox) == 1

        traveller.move_to(T0 + timedelta(seconds=600))
        subscribe("ann@example.org")

    assert len(mailoutbox) == 2
    assert mailoutbox[1].to == ["ann@example.org"]
    second_link = mailed_path(mailoutbox[1].body, "/confirm/")
    assert second_link != first_link
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.confirm_sent_at == T0 + timedelta(seconds=600)
    assert subscriber.events.filter(kind="confirmation_sent").count() == 2


def test_a_confirmed_address_gets_at_most_one_already_subscribed_note_per_window(
    guide, subscribe, mailoutbox, client, post_committed, settings
):
    with time_machine.travel(T0, tick=False) as traveller:
        subscribe("ann@example.org")
        post_committed(client, mailed_path(mailoutbox[0].body, "/confirm/"), follow=True)
        traveller.move_to(T0 + timedelta(seconds=settings.CONFIRMATION_RESEND_SECONDS))
        for _ in range(3):
            subscribe("ann@example.org")

    assert [m.subject for m in mailoutbox] == [
        "Confirm your subscription to MLMW guide updates",
        "Welcome to MLMW guide updates",
        "You are already subscribed to MLMW guide updates",
    ]


def test_behind_a_trusted_proxy_the_limit_counts_per_visitor_not_per_proxy(
    guide, client, post_committed, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SUBSCRIBE_RATE_PER_IP = "1/h"
    proxy = "10.0.0.5"

    def via_proxy(address: str, visitor: str):
        return post_committed(
            client, "/subscribe/", {"email": address}, REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=visitor, follow=True,
        )  # fmt: skip

    via_proxy("first@example.org", "198.51.100.1")
    via_proxy("second@example.org", "198.51.100.2")
    via_proxy("third@example.org", "198.51.100.1")  # same visitor again: over its limit

    assert stored() == ["first@example.org", "second@example.org"]


def test_a_mailbox_gets_at_most_three_mails_a_day_however_its_address_is_tagged(
    guide, subscribe, mailoutbox, settings
):
    settings.CONFIRMATION_RESEND_SECONDS = 0  # every attempt may mail, so only the cap applies
    for n, address in enumerate(
        [
            "victim@example.org",
            "victim+1@example.org",
            "victim-1@example.org",
            "v.ictim@example.org",
        ]
    ):
        subscribe(address, ip=f"203.0.113.{n + 1}")

    assert [m.to for m in mailoutbox] == [
        ["victim@example.org"],
        ["victim+1@example.org"],
        ["victim-1@example.org"],
    ]
