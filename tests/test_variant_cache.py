"""A release variant is rendered once per (baseline, filters) per process, however many batches share
it, in a cache of bounded size; readers with other filters get a variant of their own."""

from __future__ import annotations

import pytest

from subscriptions import audience, delivery, release_mail
from subscriptions.models import Batch, Mailing, Subscriber
from subscriptions.reading import kinds_field
from tests.conftest import make_subscribers

pytestmark = pytest.mark.django_db


def test_batches_sharing_a_variant_render_it_once_and_the_cache_is_bounded(
    guide, v0_9_0, v0_10_0, settings, mailoutbox
):
    settings.MAIL_BATCH_SIZE = 2
    make_subscribers(guide, "all", 5, baseline=v0_9_0)
    removed = make_subscribers(guide, "removed", 3, baseline=v0_9_0)
    Subscriber.objects.filter(pk__in=[s.pk for s in removed]).update(kinds=kinds_field({"removed"}))
    mailing = Mailing.objects.create(version=v0_10_0)
    release_mail.render_variant.cache_clear()
    release_mail.variant_catch_up.cache_clear()

    for batch_id in audience.start(mailing.pk):
        delivery.send(batch_id)

    assert len(mailoutbox) == 8
    assert Batch.objects.filter(mailing=mailing).count() == 3 + 2
    assert release_mail.render_variant.cache_info().misses == 2  # ("", "removed")
    assert release_mail.variant_catch_up.cache_info().misses == 1  # one baseline
    assert release_mail.render_variant.cache_info().maxsize == release_mail.VARIANT_CACHE_SIZE
