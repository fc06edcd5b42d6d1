"""Celery tasks of the guide app: thin wrappers around guide.publishing."""

from celery import shared_task

from guide import publishing


@shared_task(ignore_result=True)
def publish_due_versions() -> list[int]:
    """Run by beat (or `manage.py clock`): publish scheduled versions whose time has passed."""
    return [version.pk for version in publishing.publish_due()]
