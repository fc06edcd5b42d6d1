"""The reader's choices beyond guides and cadence: when digests go out, which kinds of change and
which sections they want. Plain values and rules; Subscriber stores them and answers with them.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ValidationError

from guide.models import KIND_ORDER, ChangelogEntry

# Keep a Changelog's kinds, in its order: the changelog entries' own vocabulary.
KINDS: tuple[str, ...] = tuple(KIND_ORDER)
KIND_LABELS: dict[str, str] = dict(ChangelogEntry.Kind.choices)
WEEKDAYS = [
    (0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"),
    (5, "Saturday"), (6, "Sunday"),
]  # fmt: skip
DEFAULT_TIME_ZONE = "UTC"
DEFAULT_DIGEST_HOUR = 8


@functools.cache
def time_zones() -> frozenset[str]:
    """Every IANA name this Python knows (the system's database, else the tzdata package)."""
    return frozenset(zoneinfo.available_timezones()) | {DEFAULT_TIME_ZONE}


def validate_time_zone(name: str) -> None:
    if name not in time_zones():
        raise ValidationError(
            "Unknown time zone %(name)s: choose one from the list, such as Europe/Berlin.",
            code="time_zone",
            params={"name": name[:60]},
        )


def kinds_field(kinds: Iterable[str]) -> str:
    """How a set of kinds is stored: comma-joined in Keep a Changelog's order, "" for all of them,
    so equal choices are equal strings (readers with the same filters group on it)."""
    chosen = set(kinds)
    unknown = chosen - set(KINDS)
    if unknown:
        raise ValueError(f"unknown change kinds {sorted(unknown)}")
    if not chosen or chosen == set(KINDS):
        return ""
    return ",".join(kind for kind in KINDS if kind in chosen)


def kinds_from_field(value: str) -> frozenset[str]:
    return frozenset(value.split(",")) if value else frozenset(KINDS)


def next_slot(
    after: datetime, *, hour: int, time_zone: str, weekday: int | None = None
) -> datetime:
    """The first digest slot strictly after `after`, in UTC: `hour`:00 in `time_zone` every day, or
    on `weekday` (0 = Monday) only.

    Wall-clock times that do not exist (spring forward) fall on the first valid time after them
    (02:00 skipped to 03:00 is 03:00); repeated ones (autumn) count once, at their first occurrence.
    Both come from reading a local time with fold=0, which zoneinfo maps to the offset before the
    change.
    """
    if after.tzinfo is None:
        raise ValueError("next_slot needs an aware datetime")
    zone = zoneinfo.ZoneInfo(time_zone)
    # From the day before: a skipped hour can push a slot past local midnight.
    day: date = after.astimezone(zone).date() - timedelta(days=1)
    for _ in range(10):
        if weekday is None or day.weekday() == weekday:
            slot = datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)
            if slot > after:
                return slot
        day += timedelta(days=1)
    raise AssertionError("a weekly slot is always within eight days")  # pragma: no cover


@dataclass(frozen=True)
class Reading:
    """What the subscribe and preferences forms choose besides guides (validated by the form)."""

    cadence: str
    digest_weekday: int = 0
    digest_hour: int = DEFAULT_DIGEST_HOUR
    time_zone: str = DEFAULT_TIME_ZONE
    kinds: frozenset[str] = frozenset(KINDS)
    # guide id -> chosen section slugs; a guide not here (or with none) means all its sections.
    sections: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict:
        """For a task's arguments."""
        return {
            "cadence": self.cadence,
            "digest_weekday": self.digest_weekday,
            "digest_hour": self.digest_hour,
            "time_zone": self.time_zone,
            "kinds": sorted(self.kinds),
            "sections": {str(k): list(v) for k, v in self.sections.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Reading:
        return cls(
            cadence=data["cadence"],
            digest_weekday=int(data["digest_weekday"]),
            digest_hour=int(data["digest_hour"]),
            time_zone=data["time_zone"],
            kinds=frozenset(data["kinds"]),
            sections={int(k): tuple(v) for k, v in data.get("sections", {}).items()},
        )
