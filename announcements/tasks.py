"""Celery tasks of the announcements app: thin wrappers around announcements.posting."""

from __future__ import annotations

from celery import shared_task

from announcements import posting


@shared_task(bind=True, ignore_result=True)
def post_announcement(self, announcement_id: int) -> None:
    wait = posting.post(announcement_id)
    if wait is not None and not self.request.is_eager:
        # In-process (eager) tasks cannot wait: there the sweep picks the row up again.
        post_announcement.apply_async((announcement_id,), countdown=wait)


@shared_task(ignore_result=True)
def sweep_announcements() -> list[int]:
    ids = posting.sweep()
    for announcement_id in ids:
        post_announcement.delay(announcement_id)
    return ids
