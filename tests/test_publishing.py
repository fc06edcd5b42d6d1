"""publish(), schedule() and publish_due(): the only ways a version becomes public."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from guide.models import Version
from guide.publishing import PublishError, publish, publish_due, schedule, version_published
from tests.conftest import MLMW_0_10_1, make_version

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


@pytest.fixture
def received() -> Iterator[list[dict]]:
    """Every version_published signal, with what the receiver saw in the database at that moment."""
    calls: list[dict] = []

    def receiver(sender, version, **kwargs):
        row = Version.objects.get(pk=version.pk)
        calls.append(
            {
                "version": version,
                "status_in_db": row.status,
                "in_transaction": connection.in_atomic_block,
            }
        )

    version_published.connect(receiver, dispatch_uid="test-publishing-receiver")
    try:
        yield calls
    finally:
        version_published.disconnect(dispatch_uid="test-publishing-receiver")


def snapshot(version: Version) -> tuple:
    version.refresh_from_db()
    return (
        version.status,
        version.published_at,
        version.bump,
        version.publish_at,
        version.updated_at,
    )


def test_publishing_a_draft_marks_it_published_with_date_bump_and_publisher(
    draft, editor, received
):
    published = publish(draft, by=editor, now=NOW)

    draft.refresh_from_db()
    assert draft.status == Version.Status.PUBLISHED
    assert draft.published_at == NOW
    assert draft.bump == "patch"
    assert draft.published_by == editor
    assert published.pk == draft.pk and published.is_published
    assert Version.objects.latest() == draft


def test_publishing_without_a_time_uses_the_current_time(draft):
    with time_machine.travel(NOW, tick=False):
        publish(draft)

    draft.refresh_from_db()
    assert draft.published_at == NOW


@pytest.mark.parametrize(
    ("number", "bump"), [("0.11.0", "minor"), ("0.10.1", "patch"), ("1.0.0", "major")]
)
def test_the_bump_is_the_step_from_the_latest_published_number(v0_10_0, number, bump):
    version = make_version(v0_10_0.guide, number, MLMW_0_10_1)

    publish(version, now=NOW)

    version.refresh_from_db()
    assert version.bump == bump


def test_the_first_published_version_of_a_guide_is_a_major_release(guide):
    version = make_version(guide, "0.1.0", MLMW_0_10_1)

    publish(version, now=NOW)

    version.refresh_from_db()
    assert version.bump == "major"


def test_the_signal_is_sent_once_inside_the_transaction_with_the_published_version(draft, received):
    publish(draft, now=NOW)

    assert len(received) == 1
    (call,) = received
    assert call["version"].pk == draft.pk
    assert call["version"].status == Version.Status.PUBLISHED
    assert call["status_in_db"] == Version.Status.PUBLISHED
    assert call["in_transaction"] is True


def test_publishing_twice_is_an_error_and_changes_nothing(draft, received):
    publish(draft, now=NOW)
    before = snapshot(draft)

    with pytest.raises(PublishError, match=r"mlmw 0\.10\.1 is already published"):
        publish(draft, now=NOW + timedelta(days=1))

    assert snapshot(draft) == before
    assert len(received) == 1


@pytest.mark.parametrize("number", ["0.9.9", "0.9.5", "0.1.0"])
def test_a_number_below_the_latest_published_is_refused_and_changes_nothing(
    v0_10_0, received, number
):
    # An equal number cannot reach publish(): the database refuses a second row with that number
    # (see test_version_queries), and publish() refuses "not greater" either way.
    version = make_version(v0_10_0.guide, number, MLMW_0_10_1)
    before = snapshot(version)

    with pytest.raises(PublishError) as excinfo:
        publish(version, now=NOW)

    assert str(excinfo.value) == (
        f"{number} is not greater than the latest published version 0.10.0."
    )
    assert snapshot(version) == before
    assert version.status == Version.Status.DRAFT
    assert received == []
    assert Version.objects.latest() == v0_10_0


def test_a_draft_overtaken_by_a_higher_publish_can_no_longer_be_published(draft, received):
    higher = make_version(draft.guide, "0.11.0", MLMW_0_10_1)
    publish(higher, now=NOW)
    before = snapshot(draft)

    with pytest.raises(PublishError, match=r"0\.10\.1 is not greater than .* 0\.11\.0"):
        publish(draft, now=NOW)

    assert snapshot(draft) == before
    assert len(received) == 1


@pytest.mark.parametrize("content", ["", "   \n\n\t"])
def test_a_version_without_content_is_refused(v0_10_0, received, content):
    version = make_version(v0_10_0.guide, "0.11.0", content)
    before = snapshot(version)

    with pytest.raises(PublishError, match=r"mlmw 0\.11\.0 has no content"):
        publish(version, now=NOW)

    assert snapshot(version) == before
    assert received == []


def test_a_receiver_that_raises_aborts_the_publish(draft):
    # Receivers run inside publish()'s transaction: their failure undoes the publish.
    def failing_receiver(sender, version, **kwargs):
        raise RuntimeError("outbox table is gone")

    version_published.connect(failing_receiver, dispatch_uid="test-failing-receiver")
    try:
        with pytest.raises(RuntimeError, match="outbox table is gone"):
            publish(draft, now=NOW)
    finally:
        version_published.disconnect(dispatch_uid="test-failing-receiver")

    draft.refresh_from_db()
    assert draft.status == Version.Status.DRAFT
    assert draft.published_at is None
    assert draft.bump == ""
    assert Version.objects.latest().number == "0.10.0"


# --- schedule() ---------------------------------------------------------------------------------


def test_scheduling_stores_the_time_and_the_scheduled_status(draft, received):
    at = NOW + timedelta(days=2)

    schedule(draft, at)

    draft.refresh_from_db()
    assert draft.status == Version.Status.SCHEDULED
    assert draft.publish_at == at
    assert draft.published_at is None
    assert received == []


def test_scheduling_with_a_naive_time_is_refused_and_changes_nothing(draft):
    before = snapshot(draft)

    with pytest.raises(PublishError, match="needs a time zone"):
        schedule(draft, datetime(2026, 12, 1, 9))

    assert snapshot(draft) == before


def test_scheduling_an_unpublishable_version_is_refused_and_changes_nothing(v0_10_0):
    lower = make_version(v0_10_0.guide, "0.9.9", MLMW_0_10_1)
    before = snapshot(lower)

    with pytest.raises(
        PublishError, match=r"not greater than the latest published version 0\.10\.0"
    ):
        schedule(lower, NOW + timedelta(days=1))
    with pytest.raises(PublishError, match="already published"):
        schedule(v0_10_0, NOW + timedelta(days=1))

    assert snapshot(lower) == before
    v0_10_0.refresh_from_db()
    assert v0_10_0.publish_at is None


# --- publish_due() ------------------------------------------------------------------------------


def test_a_scheduled_version_is_published_once_its_time_passes_and_not_before(draft, received):
    at = NOW + timedelta(hours=1)
    schedule(draft, at)

    with time_machine.travel(at - timedelta(seconds=1), tick=False):
        assert publish_due() == []
    draft.refresh_from_db()
    assert draft.status == Version.Status.SCHEDULED
    assert received == []

    with time_machine.travel(at + timedelta(minutes=1), tick=False):
        published = publish_due()
    draft.refresh_from_db()
    assert [v.pk for v in published] == [draft.pk]
    assert draft.status == Version.Status.PUBLISHED
    assert draft.published_at == at + timedelta(minutes=1)
    assert draft.bump == "patch"
    assert len(received) == 1

    with time_machine.travel(at + timedelta(minutes=2), tick=False):
        assert publish_due() == []
    assert len(received) == 1


def test_due_versions_are_published_lowest_number_first(v0_10_0):
    guide = v0_10_0.guide
    minor = make_version(guide, "0.11.0", MLMW_0_10_1)
    patch = make_version(guide, "0.10.1", MLMW_0_10_1)
    # The higher number is due earlier; publishing it first would make the lower one unpublishable.
    schedule(minor, NOW)
    schedule(patch, NOW + timedelta(minutes=5))

    published = publish_due(NOW + timedelta(hours=1))

    assert [v.number for v in published] == ["0.10.1", "0.11.0"]
    assert [v.bump for v in published] == ["patch", "minor"]


def test_a_scheduled_version_overtaken_by_a_higher_one_goes_back_to_draft(draft, received, caplog):
    schedule(draft, NOW + timedelta(hours=1))
    higher = make_version(draft.guide, "0.11.0", MLMW_0_10_1)
    publish(higher, now=NOW)
    received.clear()

    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        published = publish_due()

    draft.refresh_from_db()
    assert published == []
    assert draft.status == Version.Status.DRAFT
    assert draft.published_at is None
    assert draft.updated_at == NOW + timedelta(hours=2)
    assert received == []
    assert "scheduled publish of mlmw 0.10.1 failed, back to draft" in caplog.text
    assert Version.objects.latest() == higher


def test_publish_due_uses_the_real_clock_by_default(draft):
    schedule(draft, timezone.now() - timedelta(seconds=1))

    assert [v.number for v in publish_due()] == ["0.10.1"]
