"""The one interface every channel implements. A post that fails raises
subscriptions.exceptions.SendFailure, the failure type of every outbound call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from announcements.models import Announcement


@dataclass(frozen=True)
class Posted:
    """What a channel gives back for a post: its id there and, where it has a page, its URL."""

    external_id: str = ""
    url: str = ""


class Channel:
    """One outbound channel. Subclasses live in their own module in announcements/channels/ and are
    listed in announcements.channels.MODULES.

    A channel is built from settings by `configured()`, which returns None when the channel is off (its
    settings are unset); `off_reason()` says why, for the log and the admin.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    # What happens to a post whose outcome is unknown (the worker died while posting): True: post
    # again (after find(), or because receivers deduplicate); False: fail it for a human to check.
    retries_unknown_outcome: ClassVar[bool] = False

    @classmethod
    def configured(cls) -> Channel | None:
        raise NotImplementedError

    @classmethod
    def off_reason(cls) -> str:
        raise NotImplementedError

    def targets(self) -> list[str]:
        """Where each release goes: one Announcement row per target."""
        raise NotImplementedError

    def post(self, announcement: Announcement) -> Posted:
        """Post the release of announcement.version to announcement.target; raise SendFailure."""
        raise NotImplementedError

    def find(self, announcement: Announcement) -> Posted | None:
        """Our own earlier post of this release, if the channel can look (Reddit); asked before every
        retry so that a post that reached the service but not our database is not made twice."""
        return None


def shorten(render: Callable[[int], str], count: int, limit: int, size=len) -> str:
    """render(n) with the largest n ≤ count whose text fits `limit` (by `size`).

    render(n) shows the first n items and says how many more there are (with a link to the rest), so a
    shortened text still leads to everything. Falls back to n = 0, cut hard, if even that is too long.
    """
    low, high = 0, count
    if size(text := render(count)) <= limit:
        return text
    while low < high:  # the largest n that fits, by bisection: render is a template render
        middle = (low + high + 1) // 2
        if size(render(middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    text = render(low)
    return text if size(text) <= limit else text[: max(0, limit - 1)] + "…"
