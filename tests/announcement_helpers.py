"""Helpers the channel tests share: publish with the on-commit work run, and drive a retry."""

from __future__ import annotations

import time_machine

from announcements import posting
from announcements.models import Announcement
from guide.models import Version
from guide.publishing import publish


def publish_now(version: Version, capture) -> list[Announcement]:
    """publish(), then its on-commit callbacks as a commit runs them: each post_announcement task runs
    in-process (eager Celery), through the real channel client. Returns the version's rows."""
    with capture(execute=True):
        publish(version)
    return list(Announcement.objects.filter(version=version).order_by("channel", "target"))


def retry_when_due(announcement: Announcement) -> Announcement:
    """Move the clock to the row's next_attempt_at and run the task's work, as the countdown would."""
    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.PENDING, announcement.last_error
    with time_machine.travel(announcement.next_attempt_at, tick=False):
        posting.post(announcement.pk)
    announcement.refresh_from_db()
    return announcement
