"""A reader never gets an older release's mail after a newer one: when two mailings of a guide
overlap, the older one's batch re-reads each reader's baseline at claim, and a reader whom the
newer mail (or "Mark as read") already moved on gets nothing from it; their next mail starts from
where they are."""

from __future__ import annotations

import pytest
from django.utils import timezone

from subscriptions import audience, delivery, ledger
from subscriptions.models import Baseline, Delivery, Mailing
from tests.conftest import make_subscribers

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(guide, v0_9_0, settings):
    settings.MAIL_SEND_RATE = 0
    return make_subscribers(guide, "reader", 2, baseline=v0_9_0)


def test_an_older_releases_batch_claimed_after_a_newer_mail_skips_the_reader_it_overtook(
    readers, guide, v0_10_0, draft, mailoutbox
):
    draft.published_at, draft.status, draft.bump = timezone.now(), "published", "patch"
    draft.save()
    early, late = readers
    older = Mailing.objects.create(version=v0_10_0)
    (older_batch,) = audience.start(older.pk)
    # The newer release reaches `early` before the older mailing's batch is sent.
    ledger.move_baselines([early.pk], guide.pk, draft.pk, timezone.now())

    delivery.send(older_batch)

    assert [m.to for m in mailoutbox] == [[late.email]]
    skipped = Delivery.objects.get(mailing=older, subscriber=early)
    assert (skipped.status, skipped.error) == (Delivery.Status.SKIPPED, delivery.OVERTAKEN)
    assert Baseline.objects.get(subscriber=early).version == draft
    assert Baseline.objects.get(subscriber=late).version == v0_10_0


def test_a_reader_who_marked_the_release_read_before_its_batch_went_out_is_not_mailed_it(
    readers, guide, v0_10_0, mailoutbox
):
    reader, other = readers
    mailing = Mailing.objects.create(version=v0_10_0)
    (batch,) = audience.start(mailing.pk)
    ledger.move_baselines([reader.pk], guide.pk, v0_10_0.pk, timezone.now())  # "Mark as read"

    delivery.send(batch)

    assert [m.to for m in mailoutbox] == [[other.email]]
    assert Delivery.objects.get(subscriber=reader).status == Delivery.Status.SKIPPED
