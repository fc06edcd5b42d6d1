"""Helpers the reader's-choices tests share: a reader subscribed and confirmed through the real forms,
and a snapshot of everything those forms can change."""

from __future__ import annotations

import pytest
from django.test import Client

from subscriptions.models import SectionFilter, Subscriber
from tests.forms import page_form
from tests.mails import mailed_path

ADDRESS = "ann@example.org"

# A weekly digest of removals and security fixes in one section, as a reader picks it.
WEEKLY_REMOVED_AND_SECURITY = {
    "cadence": ["weekly"],
    "digest_weekday": ["4"],
    "digest_hour": ["18"],
    "time_zone": ["Europe/Berlin"],
    "kinds": ["removed", "security"],
    "sections_mlmw": ["reference-texts"],
}


@pytest.fixture
def visitor() -> Client:
    return Client(enforce_csrf_checks=True)


def subscribe(visitor: Client, post_committed, **choices: list[str]) -> None:
    """Fill the subscribe page's form as a reader does (every other field as the page has it)."""
    form = page_form(visitor.get("/subscribe/"), "/subscribe/")
    answer = post_committed(visitor, form.action, form.data(email=[ADDRESS], **choices))
    assert answer.status_code == 303, answer.content.decode()[:2000]


def confirm(visitor: Client, post_committed, outbox_text: str):
    """Press the Confirm button behind the link in a confirmation mail; the answer, redirect followed."""
    link = mailed_path(outbox_text, "/confirm/")
    button = page_form(visitor.get(link), link)
    return post_committed(visitor, button.action, button.data(), follow=True)


@pytest.fixture
def reader(guide_with_sections, visitor, post_committed, mailoutbox, settings) -> Subscriber:
    """ADDRESS, subscribed to a weekly digest of Removed and Security in one section, confirmed."""
    settings.CONFIRMATION_RESEND_SECONDS = 0
    subscribe(visitor, post_committed, **WEEKLY_REMOVED_AND_SECURITY)
    confirm(visitor, post_committed, mailoutbox[-1].body)
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    return subscriber


@pytest.fixture
def guide_with_sections(v0_10_0):
    """The mlmw guide with 0.10.0 published: sections Beginner track, Reference texts, Interviews."""
    return v0_10_0.guide


def choices_snapshot() -> list[tuple]:
    """Every stored choice of every subscriber, and their section filters."""
    rows = [
        (
            s.email, s.status, s.cadence, s.all_guides, s.digest_weekday, s.digest_hour,
            s.time_zone, s.kinds, sorted(s.guides.values_list("slug", flat=True)),
        )
        for s in Subscriber.objects.order_by("pk")
    ]  # fmt: skip
    filters = list(SectionFilter.objects.values_list("subscriber_id", "guide_id", "sections"))
    return [*rows, *filters]
