"""The Version query helpers and the database constraints that keep version history consistent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from guide.models import Guide, Version
from tests.conftest import MLMW_0_10_0, MLMW_0_10_1, make_version

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)


def numbers(versions) -> list[str]:
    return [v.number for v in versions]


@pytest.fixture
def other_guide(db) -> Guide:
    return Guide.objects.create(slug="mdtp", title="MDTP topic list")


def test_published_returns_only_published_versions(draft, v0_10_0, v0_9_0):
    scheduled = make_version(v0_9_0.guide, "0.11.0", MLMW_0_10_0)
    scheduled.status, scheduled.publish_at = Version.Status.SCHEDULED, T0 + timedelta(days=400)
    scheduled.save()

    assert sorted(numbers(Version.objects.published())) == ["0.10.0", "0.9.0"]


def test_newest_first_orders_numbers_numerically_in_the_database(guide):
    # Inserted in an order that neither text order nor insertion order would get right.
    for number in ["0.10.0", "1.0.0", "0.9.0", "0.10.1", "0.2.0"]:
        make_version(guide, number, MLMW_0_10_0)

    assert numbers(Version.objects.newest_first()) == [
        "1.0.0",
        "0.10.1",
        "0.10.0",
        "0.9.0",
        "0.2.0",
    ]
    assert numbers(Version.objects.oldest_first()) == [
        "0.2.0",
        "0.9.0",
        "0.10.0",
        "0.10.1",
        "1.0.0",
    ]
    # The model's default ordering is numeric too.
    assert numbers(Version.objects.all()) == ["1.0.0", "0.10.1", "0.10.0", "0.9.0", "0.2.0"]


def test_latest_is_the_highest_published_number_not_the_newest_date(v0_10_0):
    # A back-ported fix of the old line, published after 0.10.0.
    make_version(
        v0_10_0.guide, "0.9.1", MLMW_0_10_0, published_at=T0 + timedelta(days=200), bump="patch"
    )
    make_version(v0_10_0.guide, "1.0.0", MLMW_0_10_1)  # a higher draft does not count

    assert Version.objects.latest() == v0_10_0
    assert v0_10_0.guide.latest_version() == v0_10_0


def test_latest_is_none_when_nothing_is_published(guide):
    make_version(guide, "0.1.0", MLMW_0_10_0)

    assert Version.objects.latest() is None
    assert guide.latest_version() is None


def test_latest_with_a_field_name_behaves_like_djangos(v0_10_0):
    backport = make_version(
        v0_10_0.guide, "0.9.1", MLMW_0_10_0, published_at=T0 + timedelta(days=200), bump="patch"
    )

    assert Version.objects.published().latest("published_at") == backport
    assert Version.objects.published().latest("major", "minor", "patch") == v0_10_0
    with pytest.raises(Version.DoesNotExist):
        Version.objects.none().latest("published_at")


def test_latest_is_per_guide_when_filtered(v0_10_0, other_guide):
    mdtp = make_version(other_guide, "1.1.0", MLMW_0_10_0, published_at=T0, bump="major")

    assert Version.objects.filter(guide=v0_10_0.guide).latest() == v0_10_0
    assert other_guide.latest_version() == mdtp
    assert Version.objects.latest() == mdtp  # unfiltered: the highest number of all guides


def test_previous_is_the_highest_published_number_below_in_the_same_guide(
    draft, v0_10_0, v0_9_0, other_guide
):
    make_version(other_guide, "0.9.5", MLMW_0_10_0, published_at=T0, bump="major")

    assert Version.objects.previous(draft) == v0_10_0
    assert draft.previous() == v0_10_0
    assert v0_10_0.previous() == v0_9_0
    assert v0_9_0.previous() is None


def test_previous_skips_drafts(v0_9_0):
    make_version(v0_9_0.guide, "0.10.0", MLMW_0_10_0)  # a draft in between
    later = make_version(v0_9_0.guide, "0.11.0", MLMW_0_10_1)

    assert later.previous() == v0_9_0


def test_between_is_the_published_versions_after_since_up_to_until(
    draft, v0_10_0, v0_9_0, other_guide
):
    guide = v0_9_0.guide
    v0_10_2 = make_version(
        guide, "0.10.2", MLMW_0_10_1, published_at=T0 + timedelta(days=150), bump="patch"
    )
    v1 = make_version(
        guide, "1.0.0", MLMW_0_10_1, published_at=T0 + timedelta(days=160), bump="major"
    )
    make_version(other_guide, "0.10.0", MLMW_0_10_0, published_at=T0, bump="major")

    assert numbers(Version.objects.between(v0_9_0, v1).newest_first()) == [
        "1.0.0",
        "0.10.2",
        "0.10.0",
    ]
    assert numbers(Version.objects.between(v0_10_0, v0_10_2).newest_first()) == ["0.10.2"]
    assert numbers(Version.objects.between(None, v0_10_2).newest_first()) == [
        "0.10.2",
        "0.10.0",
        "0.9.0",
    ]
    assert list(Version.objects.between(v0_10_0, v0_10_0)) == []
    # A draft `until` bounds the range but is not itself in it (it is not published).
    assert numbers(Version.objects.between(v0_9_0, draft)) == ["0.10.0"]


def test_due_returns_scheduled_versions_whose_time_has_come(v0_10_0):
    guide = v0_10_0.guide
    now = datetime(2026, 10, 1, 12, tzinfo=UTC)
    past = make_version(guide, "0.10.1", MLMW_0_10_1)
    exactly = make_version(guide, "0.10.2", MLMW_0_10_1)
    future = make_version(guide, "0.11.0", MLMW_0_10_1)
    plain_draft = make_version(guide, "0.12.0", MLMW_0_10_1)
    plain_draft.publish_at = now - timedelta(days=1)  # a time alone does not make it scheduled
    plain_draft.save()
    for version, at in [
        (past, now - timedelta(minutes=1)),
        (exactly, now),
        (future, now + timedelta(seconds=1)),
    ]:
        version.status, version.publish_at = Version.Status.SCHEDULED, at
        version.save()

    assert sorted(numbers(Version.objects.due(now))) == ["0.10.1", "0.10.2"]


def test_the_same_number_twice_in_one_guide_is_refused_by_the_database(v0_9_0):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_version(v0_9_0.guide, "0.9.0", MLMW_0_10_0)

    assert Version.objects.filter(guide=v0_9_0.guide, number="0.9.0").count() == 1


def test_the_same_number_in_another_guide_is_fine(v0_9_0, other_guide):
    make_version(other_guide, "0.9.0", MLMW_0_10_0)

    assert Version.objects.filter(number="0.9.0").count() == 2


def test_save_normalises_the_number_and_fills_its_parts(guide):
    version = make_version(guide, " 0.10.2 ", MLMW_0_10_0)
    version.refresh_from_db()

    assert (version.number, version.major, version.minor, version.patch) == ("0.10.2", 0, 10, 2)


@pytest.mark.parametrize(
    ("status", "fields"),
    [
        ("published", {"published_at": None, "bump": "minor"}),
        ("published", {"published_at": T0, "bump": ""}),
        ("scheduled", {"publish_at": None}),
    ],
)
def test_a_published_or_scheduled_row_without_its_dates_is_refused_by_the_database(
    guide, status, fields
):
    with pytest.raises(IntegrityError), transaction.atomic():
        Version.objects.create(
            guide=guide, number="0.1.0", title="t", content="# c", status=status, **fields
        )

    assert Version.objects.count() == 0


def test_the_check_constraint_also_guards_updates_that_skip_save(v0_9_0):
    with pytest.raises(IntegrityError), transaction.atomic():
        Version.objects.filter(pk=v0_9_0.pk).update(published_at=None)

    v0_9_0.refresh_from_db()
    assert v0_9_0.published_at == datetime(2026, 6, 1, 9, tzinfo=UTC)
