"""A digest's audience is written as a release's is: window after window of subscriber ids, each in
its own transaction, batches ready as each window lands. The audience is the readers due when the
mailing started: one confirmed after the start is not in it, whichever window holds them; a rerun
of the start (a redelivered task, the sweeper) writes nobody twice; and each window's readers who
share a digest share a batch. In-process against PostgreSQL, the clock moved with time-machine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from subscriptions import audience, delivery, digests
from subscriptions.models import Batch, Delivery, Mailing, Subscriber
from subscriptions.reading import Reading
from tests.conftest import make_subscribers, make_version
from tests.digest_helpers import clear_caches

pytestmark = pytest.mark.django_db

V1_0 = "# The guide\n\n## Models\n\n- [Trees](https://trees.example/)\n\n## Tools\n\nText.\n"
V1_1 = V1_0.replace("Text.\n", "- [Added in 1.1](https://added-in-1-1.example/)\n")
V1_2 = V1_0.replace("Text.\n", "- [Added in 1.2](https://added-in-1-2.example/)\n")
WINDOW = 3  # subscriber ids per window
BATCH = 2


@pytest.fixture(autouse=True)
def _small_windows(settings):
    settings.MAIL_AUDIENCE_CHUNK = WINDOW
    settings.MAIL_BATCH_SIZE = BATCH
    clear_caches()


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def daily_at_8(readers: list[Subscriber]) -> list[Subscriber]:
    with time_machine.travel(at(2026, 3, 16, 12), tick=False):
        for reader in readers:
            reader.set_reading(Reading(cadence="daily", digest_hour=8, time_zone="UTC"))
            reader.save()
    return readers


@pytest.fixture
def world(guide):
    """Readers of a daily digest at 08:00 UTC, on two baselines alternating by id, a release
    reader among them, and a reader still pending in the third window."""
    v1_0 = make_version(guide, "1.0.0", V1_0, published_at=at(2026, 3, 1), bump="minor")
    v1_1 = make_version(guide, "1.1.0", V1_1, published_at=at(2026, 3, 10), bump="minor")
    readers = []
    with time_machine.travel(at(2026, 3, 16, 12), tick=False):
        for n in range(4):
            readers += make_subscribers(guide, f"old{n}", 1, baseline=v1_0)
            readers += make_subscribers(guide, f"new{n}", 1, baseline=v1_1)
            if n == 1:
                make_subscribers(guide, "releases", 1, baseline=v1_0)  # cadence "every"
                (late,) = make_subscribers(guide, "late", 1, status="pending")
    daily_at_8([*readers, late])
    make_version(guide, "1.2.0", V1_2, published_at=at(2026, 3, 19), bump="minor")
    return readers, late


def written(mailing) -> list[int]:
    return list(
        Delivery.objects.filter(mailing=mailing).order_by("pk").values_list("subscriber", flat=True)
    )


def test_the_audience_is_written_in_windows_and_a_reader_confirmed_mid_way_is_not_in_it(world):
    readers, late = world
    with time_machine.travel(at(2026, 3, 23, 8), tick=False):
        mailing = digests.open_due()
        first = audience.start_chunk(mailing.pk)
    mailing.refresh_from_db()
    assert first.more and first.batch_ids  # sending can begin after the first window
    assert mailing.audience_cursor == mailing.audience_end - 7  # 10 ids, 3 a window

    # The late reader confirms at 08:01, before their window is written.
    with time_machine.travel(at(2026, 3, 23, 8, 1), tick=False):
        Subscriber.objects.filter(pk=late.pk).update(
            status=Subscriber.Status.CONFIRMED, confirmed_at=at(2026, 3, 23, 8, 1)
        )
        steps = [audience.start_chunk(mailing.pk)]
        while steps[-1].more:
            steps.append(audience.start_chunk(mailing.pk))
    mailing.refresh_from_db()

    assert len(steps) == 3  # four windows in all
    assert sorted(written(mailing)) == sorted(r.pk for r in readers)  # each due reader once
    assert (mailing.audience_size, mailing.audience_complete) == (8, True)
    started = mailing.started_at
    assert set(
        Subscriber.objects.filter(pk__in=[r.pk for r in readers]).values_list(
            "digest_after", flat=True
        )
    ) == {started}
    # The late reader's 08:00 slot goes out with the next slot's mailing, to them alone.
    with time_machine.travel(at(2026, 3, 23, 8, 15), tick=False):
        after = digests.open_due()
        audience.start(after.pk)
    assert written(after) == [late.pk]
    # Batches: every delivery in exactly one, at most BATCH each, one digest (baseline) each.
    batches = Batch.objects.filter(mailing=mailing)
    covered = [
        pk for b in batches for pk in delivery.batch_deliveries(b).values_list("pk", flat=True)
    ]
    assert sorted(covered) == sorted(
        Delivery.objects.filter(mailing=mailing).values_list("pk", flat=True)
    )
    for batch in batches:
        assert batch.size <= BATCH
        baselines = {
            d.subscriber.baselines.get().version_id for d in delivery.batch_deliveries(batch)
        }
        assert len(baselines) == 1


def test_a_window_puts_readers_who_share_a_digest_side_by_side(world):
    readers, _late = world
    with time_machine.travel(at(2026, 3, 23, 8), tick=False):
        mailing = digests.open_due()
        audience.start_chunk(mailing.pk)  # ids: old0, new0, old1

    old0, new0, old1 = readers[:3]
    order = written(mailing)
    assert sorted(order) == [old0.pk, new0.pk, old1.pk]
    assert abs(order.index(old0.pk) - order.index(old1.pk)) == 1  # both on 1.0.0


def test_a_rerun_of_the_start_writes_nobody_twice_and_the_next_slot_takes_nobody_again(
    world, mailoutbox
):
    readers, _late = world
    with time_machine.travel(at(2026, 3, 23, 8), tick=False):
        mailing = digests.open_due()
        audience.start_chunk(mailing.pk)
        # The start task is redelivered while the first run goes on, and again after it ended.
        batch_ids = audience.start(mailing.pk)
        assert audience.start(mailing.pk) == []
        assert audience.start_chunk(mailing.pk).batch_ids == []
    with time_machine.travel(at(2026, 3, 23, 8, 15), tick=False):
        assert digests.open_due() is None  # nobody is due again in the next slot

    assert sorted(written(mailing)) == sorted(r.pk for r in readers)
    assert Mailing.objects.filter(kind=Mailing.Kind.DIGEST).count() == 1
    with time_machine.travel(at(2026, 3, 23, 8), tick=False):
        for batch_id in Batch.objects.filter(mailing=mailing).values_list("pk", flat=True):
            delivery.send(batch_id)
    assert sorted(m.to[0] for m in mailoutbox) == sorted(r.email for r in readers)
    assert len(batch_ids) < Batch.objects.filter(mailing=mailing).count()  # the first run's too
