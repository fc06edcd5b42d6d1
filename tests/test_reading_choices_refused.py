"""A choice the forms do not offer (an unknown time zone, hour 25, an unknown kind of change or
section) is answered with the form and a clear error, and changes nothing: not the stored choices,
not the history, and no mail goes out."""

from __future__ import annotations

import pytest
from django.urls import reverse

from subscriptions import tokens
from subscriptions.models import Subscriber, SubscriberEvent
from tests import reading_helpers
from tests.forms import page_form
from tests.pages import text
from tests.reading_helpers import ADDRESS, choices_snapshot

pytestmark = pytest.mark.django_db

# The shared fixtures of tests/reading_helpers.py.
visitor, guide_with_sections, reader = (
    reading_helpers.visitor,
    reading_helpers.guide_with_sections,
    reading_helpers.reader,
)

BAD_CHOICES = [
    ({"time_zone": ["Mars/Olympus_Mons"]}, "Unknown time zone Mars/Olympus_Mons"),
    ({"time_zone": ["../../etc/passwd"]}, "Unknown time zone ../../etc/passwd"),
    ({"digest_hour": ["25"]}, "Choose an hour from 00:00 to 23:00."),
    ({"digest_hour": ["-1"]}, "Choose an hour from 00:00 to 23:00."),
    ({"digest_weekday": ["7"]}, "Choose a day from Monday to Sunday."),
    ({"kinds": ["removed", "breaking"]}, "Unknown kind of change breaking."),
    ({"sections_mlmw": ["no-such-section"]}, "Unknown section no-such-section of The MLMW guide."),
]
IDS = ["unknown zone", "path as zone", "hour 25", "hour -1", "weekday 7", "unknown kind",
       "unknown section"]  # fmt: skip


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.mark.parametrize(("change", "error"), BAD_CHOICES, ids=IDS)
def test_a_bad_choice_on_the_preferences_page_changes_nothing(
    change, error, reader, visitor, mailoutbox
):
    path = reverse("subscriptions:manage", args=[tokens.manage_token(reader)])
    form = page_form(visitor.get(path), path)
    before, mails = choices_snapshot(), len(mailoutbox)

    refused = visitor.post(form.action, form.data(cadence=["daily"], **change))

    assert refused.status_code == 400
    assert error in text(refused)
    assert "Your preferences are saved." not in text(refused)
    assert choices_snapshot() == before
    assert not SubscriberEvent.objects.filter(kind=SubscriberEvent.Kind.PREFERENCES).exists()
    assert len(mailoutbox) == mails


@pytest.mark.parametrize(("change", "error"), BAD_CHOICES, ids=IDS)
def test_a_bad_choice_on_the_subscribe_page_stores_nothing_and_mails_nothing(
    change, error, guide_with_sections, visitor, post_committed, mailoutbox
):
    form = page_form(visitor.get("/subscribe/"), "/subscribe/")

    refused = post_committed(visitor, form.action, form.data(email=[ADDRESS], **change))

    assert refused.status_code == 400
    assert error in text(refused)
    assert not Subscriber.objects.exists()
    assert mailoutbox == []
