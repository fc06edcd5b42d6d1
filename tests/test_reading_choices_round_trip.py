"""A reader's choices (cadence, digest day and hour, time zone, kinds of change, sections) are stored
as the subscribe and preferences forms send them, and the preferences page shows them back as they
are stored."""

from __future__ import annotations

import json
import re

import pytest

from subscriptions.models import SectionFilter, Subscriber, SubscriberEvent
from tests import reading_helpers
from tests.forms import page_form
from tests.pages import text

pytestmark = pytest.mark.django_db

# The shared fixtures of tests/reading_helpers.py.
visitor, guide_with_sections, reader = (
    reading_helpers.visitor,
    reading_helpers.guide_with_sections,
    reading_helpers.reader,
)


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def manage_path(reader) -> str:
    from django.urls import reverse

    from subscriptions import tokens

    return reverse("subscriptions:manage", args=[tokens.manage_token(reader)])


def test_the_subscribe_forms_choices_are_stored_when_the_reader_confirms(reader, guide):
    reader.refresh_from_db()

    assert (reader.cadence, reader.digest_weekday, reader.digest_hour) == ("weekly", 4, 18)
    assert reader.time_zone == "Europe/Berlin"
    assert reader.kinds == "removed,security"
    assert reader.all_guides is True  # no guide ticked
    assert reader.wants_kind("removed") and reader.wants_kind("security")
    assert not reader.wants_kind("added")
    [only] = SectionFilter.objects.all()
    assert (only.subscriber_id, only.guide_id, only.sections) == (
        reader.pk,
        guide.pk,
        ["reference-texts"],
    )
    assert reader.wants_section(guide, "reference-texts")
    assert not reader.wants_section(guide, "interviews")


def test_the_preferences_page_shows_the_stored_choices(manage_path, visitor):
    form = page_form(visitor.get(manage_path), manage_path)

    assert form.fields["cadence"] == ["weekly"]
    assert form.fields["digest_weekday"] == ["4"]
    assert form.fields["digest_hour"] == ["18"]
    assert form.fields["time_zone"] == ["Europe/Berlin"]
    assert form.fields["kinds"] == ["removed", "security"]
    assert form.fields["sections_mlmw"] == ["reference-texts"]
    assert "guides" not in form.fields  # all guides: none ticked


def test_new_choices_saved_on_the_preferences_page_are_stored_and_shown_back(
    manage_path, visitor, guide
):
    form = page_form(visitor.get(manage_path), manage_path)

    saved = visitor.post(
        form.action,
        form.data(
            guides=[str(guide.pk)],
            cadence=["daily"],
            digest_hour=["7"],
            time_zone=["America/New_York"],
            kinds=["changed", "fixed"],
            sections_mlmw=["beginner-track", "interviews"],
        ),
        follow=True,
    )

    assert "Your preferences are saved." in text(saved)
    subscriber = Subscriber.objects.get()
    assert (subscriber.cadence, subscriber.digest_hour) == ("daily", 7)
    assert subscriber.time_zone == "America/New_York"
    assert subscriber.kinds == "changed,fixed"
    assert subscriber.all_guides is False
    assert subscriber.section_choices() == {guide.pk: {"beginner-track", "interviews"}}
    shown = page_form(saved, manage_path)
    assert shown.fields["cadence"] == ["daily"]
    assert shown.fields["digest_hour"] == ["7"]
    assert shown.fields["time_zone"] == ["America/New_York"]
    assert shown.fields["kinds"] == ["changed", "fixed"]
    assert shown.fields["sections_mlmw"] == ["beginner-track", "interviews"]
    assert shown.fields["guides"] == [str(guide.pk)]
    event = subscriber.events.filter(kind=SubscriberEvent.Kind.PREFERENCES).get()
    assert event.detail.startswith("A daily digest; mlmw; at 07:00 America/New_York")


def test_ticking_every_kind_and_no_section_stores_no_filter(manage_path, visitor, guide):
    form = page_form(visitor.get(manage_path), manage_path)

    visitor.post(
        form.action,
        form.data(
            cadence=["every"],
            kinds=["added", "changed", "deprecated", "removed", "fixed", "security"],
            sections_mlmw=[],
        ),
    )

    subscriber = Subscriber.objects.get()
    assert subscriber.kinds == ""
    assert not SectionFilter.objects.exists()
    assert all(subscriber.wants_kind(kind) for kind in ("added", "security"))
    assert subscriber.wants_section(guide, "interviews")
    assert subscriber.next_digest_at(subscriber.created_at) is None


def test_the_subscribe_form_takes_the_time_zone_from_the_browser_by_an_external_script(
    visitor, guide_with_sections
):
    page = visitor.get("/subscribe/")
    html = page.content.decode()

    [select] = re.findall(r"<select[^>]*name=\"time_zone\"[^>]*>", html)
    assert "data-browser-time-zone" in select
    assert page_form(page, "/subscribe/").fields["time_zone"] == ["UTC"]  # without script
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/js/time-zone.js" defer>']
    assert "'unsafe-inline'" not in page["Content-Security-Policy"].split("script-src")[1]


def test_the_preferences_form_keeps_the_stored_time_zone_whatever_the_browser_says(
    manage_path, visitor
):
    html = visitor.get(manage_path).content.decode()

    [select] = re.findall(r"<select[^>]*name=\"time_zone\"[^>]*>", html)
    assert "data-browser-time-zone" not in select


def test_the_export_of_everything_held_has_the_stored_choices(manage_path, visitor):
    data = json.loads(visitor.get(manage_path + "export.json").content)

    assert (data["cadence"], data["all_guides"]) == ("weekly", True)
    assert data["digest"] == {"weekday": 4, "hour": 18, "time_zone": "Europe/Berlin"}
    assert data["kinds"] == ["removed", "security"]
    assert data["sections"] == {"mlmw": ["reference-texts"]}
