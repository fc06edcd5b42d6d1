"""Digests on a clock: beat opens one mailing per digest slot that is due, and each due reader gets
one mail at their hour in their time zone with the net change per guide since the version they last
received; nothing new sends nothing; a slot missed while beat was down goes out once when it is
back. Beat's task runs here as beat would run it, the clock moved with time-machine; the mailing's
start and batches run in-process against PostgreSQL, mail to the locmem outbox (test settings)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from subscriptions import audience, delivery, digests
from subscriptions.models import Baseline, Delivery, Mailing, Subscriber
from subscriptions.reading import Reading
from tests.conftest import make_subscribers, make_version
from tests.digest_helpers import clear_caches

pytestmark = pytest.mark.django_db

LINK_1_1 = "https://added-in-1-1.example/"
LINK_1_2 = "https://added-in-1-2.example/"
V1_0 = "# The guide\n\n## Models\n\n- [Trees](https://trees.example/)\n\n## Tools\n\nText.\n"
V1_1 = V1_0.replace("Text.\n", f"- [Added in 1.1]({LINK_1_1})\n")
V1_2 = V1_0.replace("Text.\n", f"- [Added in 1.2]({LINK_1_2})\n")  # 1.1's link gone again


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def beat(now: datetime, mailoutbox) -> list:
    """What beat's open_digest and the workers do at `now`; returns the mails sent."""
    before = len(mailoutbox)
    with time_machine.travel(now, tick=False):
        mailing = digests.open_due()
        if mailing is not None:
            for batch_id in audience.start(mailing.pk):
                delivery.send(batch_id)
    return mailoutbox[before:]


def publish(guide, number: str, content: str, when: datetime, entries=()):
    return make_version(guide, number, content, published_at=when, bump="minor", entries=entries)


@pytest.fixture
def v1_0(guide):
    return publish(guide, "1.0.0", V1_0, at(2026, 3, 1))


def weekly_reader(guide, baseline, *, weekday=0, hour=8, time_zone="Europe/Berlin", kinds=()):
    """A reader of a weekly digest on `weekday` at `hour` in `time_zone` (of `kinds` only, if
    given), chosen on Monday 16 March, after that day's slot."""
    with time_machine.travel(at(2026, 3, 16, 12), tick=False):
        (ann,) = make_subscribers(guide, "ann", 1, baseline=baseline)
        ann.set_reading(
            Reading(
                cadence="weekly",
                digest_weekday=weekday,
                digest_hour=hour,
                time_zone=time_zone,
                kinds=frozenset(kinds),
            )
        )
        ann.save()
    return ann


def digest_slots() -> list[datetime]:
    return list(
        Mailing.objects.filter(kind=Mailing.Kind.DIGEST)
        .order_by("slot")
        .values_list("slot", flat=True)
    )


def test_a_weekly_digest_comes_at_the_readers_hour_in_their_time_zone_across_a_dst_change(
    guide, v1_0, mailoutbox
):
    ann = weekly_reader(guide, v1_0)  # Mondays, 08:00 in Berlin
    v1_1 = publish(guide, "1.1.0", V1_1, at(2026, 3, 20), entries=[("added", "A link.")])

    # Monday 23 March, 08:00 CET is 07:00 UTC.
    assert beat(at(2026, 3, 23, 6, 55), mailoutbox) == []
    [mail] = beat(at(2026, 3, 23, 7, 0), mailoutbox)
    assert beat(at(2026, 3, 23, 7, 5), mailoutbox) == []

    assert mail.to == [ann.email]
    assert mail.subject == "Your weekly digest: The MLMW guide 1.1.0"
    assert LINK_1_1 in mail.body and LINK_1_1 in mail.alternatives[0][0]
    assert mail.extra_headers["List-Unsubscribe"].startswith("<http://testserver/")
    assert Baseline.objects.get(subscriber=ann).version == v1_1

    # Clocks went forward on 29 March: Monday 30 March, 08:00 CEST is 06:00 UTC.
    publish(guide, "1.2.0", V1_2, at(2026, 3, 25), entries=[("added", "Another link.")])
    assert beat(at(2026, 3, 30, 5, 55), mailoutbox) == []
    [mail] = beat(at(2026, 3, 30, 6, 0), mailoutbox)

    assert "Since 1.1.0, the last version you heard about from us" in mail.body
    assert digest_slots() == [at(2026, 3, 23, 7), at(2026, 3, 30, 6)]


def test_a_slot_missed_while_beat_was_down_is_opened_once_when_it_comes_back(
    guide, v1_0, mailoutbox
):
    ann = weekly_reader(guide, v1_0, time_zone="UTC")  # Mondays, 08:00 UTC
    publish(guide, "1.1.0", V1_1, at(2026, 3, 20))
    assert beat(at(2026, 3, 23, 7, 50), mailoutbox) == []

    # Beat is down from 07:50 to 09:20: the 08:00 slot passes unseen.
    [mail] = beat(at(2026, 3, 23, 9, 20), mailoutbox)
    for later in (at(2026, 3, 23, 9, 20), at(2026, 3, 23, 9, 25), at(2026, 3, 23, 11)):
        assert beat(later, mailoutbox) == []

    assert mail.to == [ann.email]
    assert digest_slots() == [at(2026, 3, 23, 9, 15)]
    assert Delivery.objects.get(subscriber=ann).status == Delivery.Status.SENT


def test_a_slot_is_opened_once_however_often_beat_asks(guide, v1_0):
    weekly_reader(guide, v1_0, time_zone="UTC")
    publish(guide, "1.1.0", V1_1, at(2026, 3, 20))

    with time_machine.travel(at(2026, 3, 23, 8, 1), tick=False):
        first = digests.open_due()
    with time_machine.travel(at(2026, 3, 23, 8, 14), tick=False):
        again = digests.open_due()

    assert first is not None and again is None
    assert digest_slots() == [at(2026, 3, 23, 8)]


def test_a_digest_with_nothing_new_sends_nothing_and_keeps_the_baseline(guide, v1_0, mailoutbox):
    ann = weekly_reader(guide, v1_0, time_zone="UTC")

    assert beat(at(2026, 3, 23, 8), mailoutbox) == []

    row = Delivery.objects.get(subscriber=ann)
    assert (row.status, row.error) == (Delivery.Status.SKIPPED, digests.NOTHING_NEW)
    assert Baseline.objects.get(subscriber=ann).version == v1_0
    assert beat(at(2026, 3, 23, 8, 5), mailoutbox) == []  # and it is not tried again


def test_a_link_added_then_removed_between_two_digests_is_not_in_the_next(guide, v1_0, mailoutbox):
    weekly_reader(guide, v1_0, time_zone="UTC")
    publish(guide, "1.1.0", V1_1, at(2026, 3, 17), entries=[("added", "A first link.")])
    publish(guide, "1.2.0", V1_2, at(2026, 3, 19), entries=[("changed", "Swapped it.")])

    [mail] = beat(at(2026, 3, 23, 8), mailoutbox)

    html = mail.alternatives[0][0]
    assert LINK_1_2 in mail.body and LINK_1_2 in html
    assert LINK_1_1 not in mail.body and LINK_1_1 not in html
    assert "1.1.0: Release 1.1.0" in mail.body  # the release itself is still named


def test_choosing_a_digest_after_todays_slot_waits_for_the_next_one(guide, v1_0, mailoutbox):
    publish(guide, "1.1.0", V1_1, at(2026, 3, 20))
    with time_machine.travel(at(2026, 3, 1, 12), tick=False):
        (ann,) = make_subscribers(guide, "ann", 1, baseline=v1_0)
    with time_machine.travel(at(2026, 3, 23, 9), tick=False):  # Monday, after 08:00 UTC
        ann.set_reading(Reading(cadence="weekly", digest_weekday=0, digest_hour=8, time_zone="UTC"))
        ann.save()

    assert beat(at(2026, 3, 23, 9, 5), mailoutbox) == []
    assert len(beat(at(2026, 3, 30, 8), mailoutbox)) == 1
    assert Subscriber.objects.get(pk=ann.pk).digest_after == at(2026, 3, 30, 8)


def test_a_digest_keeps_to_the_readers_kinds_and_folds_a_week_without_any_into_the_next(
    guide, v1_0, mailoutbox
):
    ann = weekly_reader(guide, v1_0, time_zone="UTC", kinds={"removed"})
    publish(guide, "1.1.0", V1_1, at(2026, 3, 17), entries=[("added", "A first link.")])

    assert beat(at(2026, 3, 23, 8), mailoutbox) == []
    assert Baseline.objects.get(subscriber=ann).version == v1_0

    v1_2 = publish(
        guide, "1.2.0", V1_2, at(2026, 3, 25),
        entries=[("added", "A second link."), ("removed", "The first link.")],
    )  # fmt: skip
    [mail] = beat(at(2026, 3, 30, 8), mailoutbox)

    assert "Since 1.0.0, the last version you heard about from us" in mail.body
    assert "The first link." in mail.body and "A second link." not in mail.body
    assert "Showing only: Removed. The full change: http://testserver/guides/mlmw/compare/" in (
        mail.body
    )
    assert Baseline.objects.get(subscriber=ann).version == v1_2
