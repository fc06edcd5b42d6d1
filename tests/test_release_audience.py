"""Who a release's audience holds, as the fan-out writes it (audience.start, the SQL of the real
mailing): readers of all guides get every guide's releases, a guide created after they chose
included, with a baseline from when they started following; readers who chose guides get only
those; digest readers (daily, weekly) are mailed by the clock, never per release."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guide.models import Guide
from subscriptions import audience
from subscriptions.models import Baseline, Delivery, Mailing, Subscriber
from tests.conftest import make_subscribers, make_version

pytestmark = pytest.mark.django_db


def recipients(version) -> set[str]:
    mailing = Mailing.objects.create(version=version)
    audience.start(mailing.pk)
    return set(Delivery.objects.filter(mailing=mailing).values_list("subscriber__email", flat=True))


def all_guides_reader(guide: Guide, prefix: str, **fields) -> Subscriber:
    """A confirmed reader of all guides, linked to none."""
    (reader,) = make_subscribers(guide, prefix, 1)
    reader.guides.clear()
    Subscriber.objects.filter(pk=reader.pk).update(all_guides=True, **fields)
    return reader


def test_a_reader_of_all_guides_gets_the_release_of_a_guide_created_after_they_chose(guide):
    ann = all_guides_reader(guide, "ann")
    make_subscribers(guide, "ticked", 2)
    later = Guide.objects.create(slug="later", title="A later guide")
    first = make_version(
        later, "1.0.0", "# Later\n\n## One\n\nText.\n", published_at=datetime.now(UTC), bump="major"
    )

    assert recipients(first) == {ann.email}


def test_readers_of_all_guides_and_readers_who_ticked_the_guide_get_its_release(guide, v0_9_0):
    ann = all_guides_reader(guide, "ann")
    ticked = make_subscribers(guide, "ticked", 2)
    make_subscribers(Guide.objects.create(slug="other", title="Other"), "elsewhere", 2)

    assert recipients(v0_9_0) == {ann.email} | {s.email for s in ticked}


def test_a_reader_of_all_guides_starts_following_a_guide_at_its_latest_version(guide, v0_9_0):
    ann = all_guides_reader(guide, "ann")
    Baseline.objects.all().delete()

    assert Baseline.objects.start_following([ann.pk]) == 1
    assert Baseline.objects.get(subscriber=ann).version == v0_9_0


def test_digest_readers_are_not_in_a_release_audience_of_any_bump(guide, v0_9_0, v0_10_0):
    every = make_subscribers(guide, "every", 1)
    make_subscribers(guide, "daily", 2, cadence="daily")
    make_subscribers(guide, "weekly", 2, cadence="weekly")
    all_guides_reader(guide, "weekly-all", cadence="weekly")
    patch = make_version(
        guide, "0.10.1", "# G\n\n## A\n\nText.\n", published_at=datetime.now(UTC), bump="patch"
    )

    for version in (v0_9_0, v0_10_0, patch):  # major, minor, patch
        assert recipients(version) == {every[0].email}
