"""A "new revision" notice survives losing the task that would start it: the upload's own transaction
opens the notice mailing, and the mailing sweeper starts a mailing whose start task never ran, once.
A real worker on Redis and PostgreSQL, the fake ESP; the broker is flushed right after the upload."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from access import notices
from access.models import ArtifactRevision
from subscriptions import delivery
from subscriptions.models import Delivery, Mailing
from subscriptions.tasks import sweep_mailings
from tests.conftest import NEW_BYTES, grant_for, upload_revision
from tests.esp import esp_worker_env
from tests.services import TEST_REDIS_URL, wait_for

pytestmark = [pytest.mark.worker]

QUEUE = "mlmw"  # CELERY_TASK_DEFAULT_QUEUE
HOLDERS = [f"holder-{n}@example.org" for n in range(3)]


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.mark.usefixtures("migrated_groups")
def test_a_notice_whose_task_was_lost_is_sent_by_the_sweeper_exactly_once(
    fake_esp, start_worker, topic_list, reviewing_editor
):
    for address in HOLDERS:
        grant_for(topic_list, address, notify_revisions=True)
    # No worker yet: the upload leaves its task on the broker, and the flush loses it.
    upload_revision(reviewing_editor, topic_list, NEW_BYTES, "Added evals")
    broker = redis.Redis.from_url(TEST_REDIS_URL)
    assert broker.llen(QUEUE) == 1
    broker.flushdb()
    start_worker(**esp_worker_env(fake_esp, MAIL_REQUEUE_AFTER_SECONDS=1))
    revision = ArtifactRevision.objects.order_by("-pk").first()
    wait_for(
        lambda: revision.created_at < timezone.now() - timedelta(seconds=1),
        what="the notice to be overdue (MAIL_REQUEUE_AFTER_SECONDS)",
    )

    sweep_mailings.delay()
    mailing = wait_for(
        lambda: Mailing.objects.filter(
            kind=Mailing.Kind.ACCESS_REVISION, status=Mailing.Status.DONE
        ).first(),
        what="the swept notice to finish",
    )

    assert sorted(fake_esp.recipients()) == HOLDERS
    revision.refresh_from_db()
    assert revision.notice == mailing
    assert set(Delivery.objects.filter(mailing=mailing).values_list("status", flat=True)) == {
        "sent"
    }
    # Sweeping again, or the lost task turning up after all, opens and sends nothing more.
    assert delivery.sweep() == delivery.Sweep(mailings=[], batches=[])
    notices.revision_uploaded(revision.pk)
    assert Mailing.objects.count() == 1
    assert fake_esp.duplicate_recipients() == {}
