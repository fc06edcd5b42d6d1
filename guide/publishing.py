"""Publishing: the only way a version becomes published.

publish() checks and marks the version in one transaction and, inside that same transaction, sends the
`version_published` signal. Receivers (the mail fan-out, the channel posts) write their own outbox rows
there, so the rows exist if and only if the publish committed, and enqueue their Celery tasks with
transaction.on_commit, so no worker can see the version before it is committed. A task lost after the
commit (broker down, worker killed) is found again from those rows by the receivers' sweepers.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from guide import parses
from guide.models import Guide, Version

logger = logging.getLogger(__name__)

# Sent inside publish()'s transaction with `version` (the published Version). Receivers must not do
# slow or outbound work here: write rows and use transaction.on_commit() to enqueue tasks. A receiver
# that raises aborts the publish, so receivers for optional channels catch their own errors.
version_published = Signal()


class PublishError(Exception):
    """Why a version cannot be published (or scheduled); nothing was changed."""


def _check_publishable(version: Version) -> Version | None:
    """Raise PublishError unless `version` may be published now; return the version it follows."""
    if version.status == Version.Status.PUBLISHED:
        raise PublishError(f"{version} is already published.")
    if not version.content.strip():
        raise PublishError(f"{version} has no content.")
    latest = Version.objects.filter(guide_id=version.guide_id).latest()
    if latest is not None and version.number_parts <= latest.number_parts:
        raise PublishError(
            f"{version.number} is not greater than the latest published version {latest.number}."
        )
    return latest


def refusal(version: Version) -> str | None:
    """Why `version` cannot be published now (what publish() would say), or None if it can.

    For pages and forms that must refuse before anything is attempted: the admin's scheduling and its
    preview's Publish button. `version` may be unsaved (a form's values)."""
    try:
        _check_publishable(version)
    except PublishError as exc:
        return str(exc)
    return None


def publish(version: Version, *, by=None, now: datetime | None = None) -> Version:
    """Publish `version` and return it, refreshed. Raises PublishError and changes nothing otherwise."""
    with transaction.atomic():
        # Lock the guide so two publishes of the same guide run one after the other: the second
        # then sees the first and is checked against it.
        Guide.objects.select_for_update().filter(pk=version.guide_id).first()
        locked = Version.objects.select_for_update().select_related("guide").get(pk=version.pk)
        previous = _check_publishable(locked)
        locked.status = Version.Status.PUBLISHED
        locked.published_at = now or timezone.now()
        locked.bump = locked.number_parts.bump_from(previous.number_parts if previous else None)
        locked.published_by = by
        locked.save(update_fields=["status", "published_at", "bump", "published_by", "updated_at"])
        # Store the version's parse once it is committed, before the receivers' tasks are queued
        # (on_commit callbacks run in order), so the workers load it instead of parsing it.
        transaction.on_commit(lambda: _store_parse(locked))
        version_published.send(sender=Version, version=locked)
        logger.info("published %s (%s, after %s)", locked, locked.bump, previous or "nothing")
    return locked


def _store_parse(version: Version) -> None:
    try:
        parses.parse_of(version.content)
    except Exception:
        # Only a cache: the first diff that needs it parses and stores it again.
        logger.exception("storing the parse of %s failed", version)


def schedule(version: Version, at: datetime) -> Version:
    """Mark `version` to be published at `at` by the periodic publish_due() job."""
    if timezone.is_naive(at):
        raise PublishError("The publish time needs a time zone, e.g. 2026-12-01T09:00:00+00:00.")
    with transaction.atomic():
        locked = Version.objects.select_for_update().select_related("guide").get(pk=version.pk)
        _check_publishable(locked)
        locked.status = Version.Status.SCHEDULED
        locked.publish_at = at
        locked.save(update_fields=["status", "publish_at", "updated_at"])
    return locked


def publish_due(now: datetime | None = None) -> list[Version]:
    """Publish every scheduled version whose time has passed, oldest number first.

    A scheduled version that can no longer be published (a higher number went out meanwhile) goes back
    to draft with an error in the log, instead of failing again every minute.
    """
    now = now or timezone.now()
    published: list[Version] = []
    for version in Version.objects.due(now).select_related("guide").oldest_first():
        try:
            published.append(publish(version, by=version.created_by, now=now))
        except PublishError as exc:
            logger.error("scheduled publish of %s failed, back to draft: %s", version, exc)
            Version.objects.filter(pk=version.pk, status=Version.Status.SCHEDULED).update(
                status=Version.Status.DRAFT, updated_at=now
            )
        except Exception:
            # Anything else (a receiver's bug, a lost database connection) may pass: the version
            # stays scheduled and is tried again next run; the versions after it still go out.
            logger.exception("scheduled publish of %s failed; will retry", version)
    return published
