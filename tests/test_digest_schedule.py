"""A digest reader's next slot is their chosen hour in their own time zone, once per day or week,
across daylight-saving changes: a skipped hour happens at the next valid time, a repeated hour once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from subscriptions.models import Cadence, Subscriber

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def reader(cadence: str = Cadence.DAILY, **choices) -> Subscriber:
    return Subscriber(
        email="ann@example.org", email_key="ann@example.org", cadence=cadence, **choices
    )


def slots(subscriber: Subscriber, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = subscriber.next_digest_at(after)
        found.append(after)
    return found


def test_a_daily_digest_comes_at_the_chosen_hour_in_the_readers_time_zone():
    ann = reader(digest_hour=7, time_zone="Europe/Berlin")

    after = datetime(2026, 6, 1, 12, tzinfo=UTC)

    assert slots(ann, after, 2) == [
        datetime(2026, 6, 2, 7, tzinfo=BERLIN),
        datetime(2026, 6, 3, 7, tzinfo=BERLIN),
    ]
    assert ann.next_digest_at(after).tzinfo is UTC


def test_the_slot_itself_is_not_after_itself_so_a_sent_slot_is_never_due_again():
    ann = reader(digest_hour=7, time_zone="Europe/Berlin")
    slot = datetime(2026, 6, 2, 5, tzinfo=UTC)  # 07:00 in Berlin

    assert ann.next_digest_at(slot - timedelta(microseconds=1)) == slot
    assert ann.next_digest_at(slot) == slot + timedelta(days=1)


def test_a_weekly_digest_comes_on_the_chosen_weekday_only():
    bob = reader(Cadence.WEEKLY, digest_weekday=4, digest_hour=18, time_zone="America/New_York")

    found = slots(bob, datetime(2026, 6, 1, tzinfo=UTC), 3)  # a Monday

    assert [slot.astimezone(NEW_YORK).strftime("%A %H:%M") for slot in found] == [
        "Friday 18:00"
    ] * 3
    assert found[1] - found[0] == timedelta(weeks=1)


def test_the_berlin_spring_forward_sends_the_skipped_2_oclock_slot_once_at_3():
    # 2026-03-29: at 02:00 the clocks go to 03:00; 02:00 does not exist that day.
    ann = reader(digest_hour=2, time_zone="Europe/Berlin")

    found = slots(ann, datetime(2026, 3, 27, 12, tzinfo=UTC), 3)

    assert [slot.astimezone(BERLIN).isoformat() for slot in found] == [
        "2026-03-28T02:00:00+01:00",
        "2026-03-29T03:00:00+02:00",  # the next valid time, once
        "2026-03-30T02:00:00+02:00",
    ]


def test_the_berlin_autumn_repeated_2_oclock_hour_sends_once():
    # 2026-10-25: 03:00 summer time goes back to 02:00, so 02:00-03:00 happens twice.
    ann = reader(digest_hour=2, time_zone="Europe/Berlin")

    found = slots(ann, datetime(2026, 10, 24, 12, tzinfo=UTC), 2)

    assert [slot.isoformat() for slot in found] == [
        "2026-10-25T00:00:00+00:00",  # the first 02:00 (summer time)
        "2026-10-26T01:00:00+00:00",  # the next day, not the repeated 02:00 an hour later
    ]
    assert found[1] - found[0] == timedelta(hours=25)


def test_a_weekly_new_york_slot_keeps_its_local_hour_across_both_changes():
    # 2026-03-08 and 2026-11-01 are Sundays: the clocks change at 02:00 and 01:00 local time.
    spring = reader(Cadence.WEEKLY, digest_weekday=6, digest_hour=2, time_zone="America/New_York")
    autumn = reader(Cadence.WEEKLY, digest_weekday=6, digest_hour=1, time_zone="America/New_York")

    in_spring = slots(spring, datetime(2026, 3, 1, 12, tzinfo=UTC), 2)
    in_autumn = slots(autumn, datetime(2026, 10, 25, 12, tzinfo=UTC), 2)

    assert [slot.astimezone(NEW_YORK).isoformat() for slot in in_spring] == [
        "2026-03-08T03:00:00-04:00",  # 02:00 was skipped
        "2026-03-15T02:00:00-04:00",
    ]
    assert [slot.astimezone(NEW_YORK).isoformat() for slot in in_autumn] == [
        "2026-11-01T01:00:00-04:00",  # the first 01:00, once
        "2026-11-08T01:00:00-05:00",
    ]


def test_the_slot_follows_the_clock_the_reader_lives_by_on_the_travelled_day():
    ann = reader(digest_hour=9, time_zone="Europe/Berlin")

    with time_machine.travel(datetime(2026, 3, 29, 8, tzinfo=UTC), tick=False):
        now = datetime.now(UTC)
        due = ann.next_digest_at(now)

    assert due == datetime(2026, 3, 30, 7, tzinfo=UTC)  # 09:00 summer time tomorrow


@pytest.mark.parametrize("cadence", [Cadence.EVERY, Cadence.MINOR, Cadence.MAJOR])
def test_a_reader_of_each_release_has_no_digest_slot(cadence):
    assert reader(cadence).next_digest_at(datetime(2026, 6, 1, tzinfo=UTC)) is None


def test_an_unknown_time_zone_does_not_validate():
    ann = reader(time_zone="Mars/Olympus_Mons")

    with pytest.raises(ValidationError, match="Unknown time zone Mars/Olympus_Mons"):
        ann.clean_fields(exclude=["email", "email_key"])
