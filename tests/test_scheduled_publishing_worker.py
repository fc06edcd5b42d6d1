"""Scheduled publishing through the real stack: beat's task on the Redis broker, run by a worker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from guide.models import Version
from guide.tasks import publish_due_versions
from tests.conftest import make_version
from tests.services import wait_for

pytestmark = [pytest.mark.worker]


def test_a_worker_publishes_a_scheduled_version_whose_time_has_passed(celery_worker, guide):
    due = make_version(guide, "1.0.0", "# Guide\n\nFirst.\n")
    Version.objects.filter(pk=due.pk).update(
        status=Version.Status.SCHEDULED, publish_at=timezone.now() - timedelta(minutes=1)
    )
    later = make_version(guide, "1.1.0", "# Guide\n\nSecond.\n")
    Version.objects.filter(pk=later.pk).update(
        status=Version.Status.SCHEDULED, publish_at=timezone.now() + timedelta(days=1)
    )

    publish_due_versions.delay()

    published = wait_for(
        lambda: Version.objects.filter(pk=due.pk, status=Version.Status.PUBLISHED).first(),
        what="the worker to publish 1.0.0",
    )
    assert published.bump == "major"
    assert published.published_at is not None
    later.refresh_from_db()
    assert later.status == Version.Status.SCHEDULED


def test_a_worker_publishes_a_due_patch_with_its_bump_against_the_latest(celery_worker, guide):
    make_version(guide, "1.0.0", "# Guide\n", published_at=timezone.now(), bump="major")
    due = make_version(guide, "1.0.1", "# Guide\n\nFix.\n")
    Version.objects.filter(pk=due.pk).update(
        status=Version.Status.SCHEDULED, publish_at=timezone.now() - timedelta(seconds=1)
    )

    publish_due_versions.delay()

    published = wait_for(
        lambda: Version.objects.filter(pk=due.pk, status=Version.Status.PUBLISHED).first(),
        what="the worker to publish 1.0.1",
    )
    assert published.bump == "patch"
