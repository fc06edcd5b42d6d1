"""A reader who ticks no guide follows all guides, those created later included: the audience of a
new guide's release has them (Subscriber.objects.audience_for / following), a reader who ticked
guides does not get a guide they never chose, and the preferences page shows "all" as it was chosen."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from guide.models import Guide
from subscriptions import tokens
from subscriptions.models import Subscriber
from tests.conftest import make_version
from tests.forms import page_form
from tests.mails import mailed_path

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def readers(guide, client, post_committed, mailoutbox, settings) -> dict[str, Subscriber]:
    """ann ticked no guide; bob ticked the mlmw guide. Both confirmed through the forms."""
    settings.CONFIRMATION_RESEND_SECONDS = 0
    for address, guides in (("ann@example.org", []), ("bob@example.org", [guide.pk])):
        post_committed(client, "/subscribe/", {"email": address, "guides": guides})
        mail = [m for m in mailoutbox if m.to == [address]][-1]
        post_committed(client, mailed_path(mail.body, "/confirm/"))
    return {s.email.split("@")[0]: s for s in Subscriber.objects.all()}


def release_of_a_new_guide() -> tuple[Guide, object]:
    later = Guide.objects.create(slug="later", title="A later guide")
    version = make_version(
        later,
        "1.0.0",
        "# Later\n\n## One\n\nText.",
        published_at=datetime(2026, 12, 1, tzinfo=UTC),
        bump="major",
    )
    return later, version


def test_a_reader_of_all_guides_is_in_the_audience_of_a_guide_created_later(readers):
    later, version = release_of_a_new_guide()

    audience = set(Subscriber.objects.audience_for(version).values_list("email", flat=True))

    assert audience == {"ann@example.org"}
    assert set(Subscriber.objects.following(later.pk)) == {readers["ann"]}
    assert readers["ann"].follows(later) and not readers["bob"].follows(later)


def test_both_readers_are_in_the_audience_of_the_guide_they_had(readers, guide):
    version = make_version(
        guide, "0.9.0", "# G\n\n## A\n", published_at=datetime.now(UTC), bump="major"
    )

    audience = set(Subscriber.objects.audience_for(version).values_list("email", flat=True))

    assert audience == {"ann@example.org", "bob@example.org"}


def test_the_preferences_page_keeps_all_guides_until_the_reader_ticks_some(readers, guide):
    ann = readers["ann"]
    path = reverse("subscriptions:manage", args=[tokens.manage_token(ann)])
    browser = Client(enforce_csrf_checks=True)
    form = page_form(browser.get(path), path)
    assert "guides" not in form.fields  # none ticked: all, and new ones

    browser.post(form.action, form.data())  # saved as it is
    ann.refresh_from_db()
    assert ann.all_guides is True

    browser.post(form.action, form.data(guides=[str(guide.pk)]))
    ann.refresh_from_db()
    _, version = release_of_a_new_guide()
    assert ann.all_guides is False
    assert not Subscriber.objects.audience_for(version).filter(pk=ann.pk).exists()
