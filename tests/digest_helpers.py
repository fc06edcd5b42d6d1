"""Digest readers and digest runs on a clock, for the tests of what a digest reader sees.

A digest run is what beat's open_digest and the workers do at a moment: the slot's mailing opened
when someone is due, its audience written and its batches sent in-process, mail to the locmem
outbox. The clock is moved with time-machine.
"""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from subscriptions import audience, delivery, digests, release_mail
from subscriptions.models import Subscriber
from subscriptions.reading import Reading
from tests.conftest import make_subscribers

# Monday 5 October 2026: after the world's 0.10.0 (15 September), a week before the slot below.
CHOSEN_AT = datetime(2026, 10, 5, 12, tzinfo=UTC)
# The weekly reader's first slot after CHOSEN_AT: Monday 12 October, 08:00 in Berlin (CEST).
FIRST_SLOT = datetime(2026, 10, 12, 6, tzinfo=UTC)


def clear_caches() -> None:
    """The per-process caches are keyed by ids, which the database hands out again after a test's
    rollback."""
    for cached in (
        digests.changes_of, digests.render, digests.newest_of_mailing,
        release_mail.published_catch_up,
        release_mail.render_variant, release_mail.variant_catch_up,
    ):  # fmt: skip
        cached.cache_clear()


def digest_run(now: datetime, mailoutbox) -> list:
    """What beat and the workers do at `now`; returns the mails sent."""
    before = len(mailoutbox)
    with time_machine.travel(now, tick=False):
        mailing = digests.open_due()
        if mailing is not None:
            for batch_id in audience.start(mailing.pk):
                assert delivery.send(batch_id) is None
    return mailoutbox[before:]


def weekly_reader(guide, baseline, *, prefix: str = "ann", kinds=()) -> Subscriber:
    """A reader of a weekly digest on Mondays at 08:00 in Europe/Berlin (of `kinds` only, if
    given), last mailed `baseline`, who chose it at CHOSEN_AT."""
    with time_machine.travel(CHOSEN_AT, tick=False):
        (reader,) = make_subscribers(guide, prefix, 1, baseline=baseline)
        reader.set_reading(
            Reading(
                cadence="weekly",
                digest_weekday=0,
                digest_hour=8,
                time_zone="Europe/Berlin",
                kinds=frozenset(kinds),
            )
        )
        reader.save()
    return reader
