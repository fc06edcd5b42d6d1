"""Posting each release to the channels, once: the Announcement outbox.

- `on_version_published`: one pending row per configured target, inside publish()'s transaction;
  `post_announcement` enqueued on commit, by name.
- `post(id)`: claim the row, look for an earlier post on a retry, post, record the outcome.
- `sweep()`: re-enqueue rows whose task was lost; settle rows a dead worker left `sending`.
- `retry`, `channel_states`: the admin's Retry and its list of channels on and off.

The flow and its guarantees: docs/channels.md.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from announcements import channels, targets
from announcements.models import Announcement
from guide.models import Version
from mlmw.celery import enqueue
from subscriptions.exceptions import SendFailure

logger = logging.getLogger(__name__)

POST_TASK = "announcements.tasks.post_announcement"

_TARGET_LENGTH = Announcement._meta.get_field("target").max_length


# --- 1. Publishing writes the rows ------------------------------------------------------------------


def create_announcements(version: Version) -> list[Announcement]:
    """Called inside publish()'s transaction; the posts are enqueued for after the commit."""
    created = []
    for channel in channels.configured():
        try:
            # One savepoint per channel: a row that cannot be written loses that channel's post,
            # not the others'.
            with transaction.atomic():
                for target in channel.targets():
                    if len(target) > _TARGET_LENGTH:
                        # Checked here, not left to the column: SQLite (make run) stores any length.
                        raise ValueError(f"a target is longer than {_TARGET_LENGTH} characters")
                    announcement, new = Announcement.objects.get_or_create(
                        version=version, channel=channel.name, target=target
                    )
                    if new:
                        created.append(announcement)
        except Exception:
            logger.exception("%s: announcements of %s not created", channel.name, version)
    # A broker that is down loses the task, not the publish (enqueue is robust): the sweep finds it.
    for announcement in created:
        enqueue(POST_TASK, announcement.pk)
    return created


def on_version_published(sender, version: Version, **kwargs) -> None:
    """Receiver of guide.publishing.version_published. Announcements are optional: an error here is
    logged and the publish goes on (the savepoint keeps the transaction usable)."""
    try:
        with transaction.atomic():
            create_announcements(version)
    except Exception:
        logger.exception("announcements for %s not created; the publish goes on", version)


# --- 2. Posting -------------------------------------------------------------------------------------


def claim(announcement_id: int) -> Announcement | None:
    now = timezone.now()
    claimed = Announcement.objects.filter(
        pk=announcement_id, status=Announcement.Status.PENDING, next_attempt_at__lte=now
    ).update(status=Announcement.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return Announcement.objects.select_related("version__guide").get(pk=announcement_id)


def post(announcement_id: int) -> float | None:
    """Post one announcement. Returns None when done with it, or seconds until it should run again."""
    announcement = claim(announcement_id)
    if announcement is None:
        return _early(announcement_id)
    cls = channels.all_channels().get(announcement.channel)
    channel = cls.configured() if cls else None
    if channel is None:
        _fail(announcement, f"channel {announcement.channel} is not configured any more")
        return None
    if announcement.attempts > settings.ANNOUNCE_MAX_ATTEMPTS:
        _fail(announcement, f"gave up after {announcement.attempts - 1} attempts")
        return None
    try:
        # A retry (or a post after Retry in the admin): an earlier attempt may have posted.
        earlier = channel.find(announcement) if _tried_before(announcement) else None
        posted = earlier or channel.post(announcement)
    except SendFailure as exc:
        if exc.permanent or announcement.attempts >= settings.ANNOUNCE_MAX_ATTEMPTS:
            _fail(announcement, exc.message)
            return None
        wait = countdown(exc.retry_after, announcement.attempts)
        _release(announcement, exc.message, wait)
        return wait
    except Exception as exc:
        # A bug or an unexpected answer: the outcome is unknown, as if the worker had died.
        logger.exception("announcement %s: unexpected error", announcement.pk)
        return _unknown_outcome(announcement, channel, f"unexpected error: {exc!r}"[:500])
    Announcement.objects.filter(pk=announcement.pk, status=Announcement.Status.SENDING).update(
        status=Announcement.Status.SENT,
        external_id=posted.external_id[:200],
        url=posted.url[:500],
        sent_at=timezone.now(),
        claimed_at=None,
    )
    logger.info("announcement %s posted: %s", announcement.pk, posted.url or posted.external_id)
    return None


def _tried_before(announcement: Announcement) -> bool:
    return announcement.attempts > 1 or bool(announcement.last_error)


def _early(announcement_id: int) -> float | None:
    """Not claimed: done, claimed by another worker, or pending but not due yet. In the last case the
    wait left (a duplicate task must not post before a countdown Telegram or Reddit asked for)."""
    row = (
        Announcement.objects.filter(pk=announcement_id, status=Announcement.Status.PENDING)
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if row is None:
        return None
    return max(0.5, (row - timezone.now()).total_seconds())


def countdown(retry_after: float | None, attempt: int) -> float:
    """What the service asked for, but at least ANNOUNCE_RETRY_MIN_SECONDS; otherwise exponential
    backoff with full jitter."""
    if retry_after is not None:
        return max(float(retry_after), settings.ANNOUNCE_RETRY_MIN_SECONDS)
    ceiling = min(
        settings.ANNOUNCE_RETRY_MAX_SECONDS, settings.ANNOUNCE_RETRY_BASE_SECONDS * 2**attempt
    )
    return max(settings.ANNOUNCE_RETRY_MIN_SECONDS, random.uniform(0, ceiling))  # noqa: S311


def _release(announcement: Announcement, error: str, wait: float) -> None:
    Announcement.objects.filter(pk=announcement.pk, status=Announcement.Status.SENDING).update(
        status=Announcement.Status.PENDING,
        claimed_at=None,
        last_error=error,
        last_countdown=wait,
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
    )
    logger.warning("announcement %s: %s; retry in %.0fs", announcement.pk, error, wait)


def _fail(announcement: Announcement, error: str) -> None:
    Announcement.objects.filter(pk=announcement.pk, status=Announcement.Status.SENDING).update(
        status=Announcement.Status.FAILED, claimed_at=None, last_error=error
    )
    logger.error("announcement %s failed: %s", announcement.pk, error)


def _unknown_outcome(announcement: Announcement, channel, error: str) -> float | None:
    if channel is not None and channel.retries_unknown_outcome:
        wait = countdown(None, announcement.attempts)
        _release(announcement, error, wait)
        return wait
    _fail(announcement, f"{error}; it may have been posted: check, then Retry if it is missing")
    return None


# --- 3. The sweep and the admin's Retry -------------------------------------------------------------


def sweep(now=None) -> list[int]:
    """Settle what dead workers left in "sending"; return the ids of pending rows to enqueue again."""
    now = now or timezone.now()
    lease = timedelta(seconds=settings.ANNOUNCE_LEASE_SECONDS)
    again: list[int] = []
    for announcement in Announcement.objects.filter(
        status=Announcement.Status.SENDING, claimed_at__lt=now - lease
    ):
        cls = channels.all_channels().get(announcement.channel)
        if cls is not None and cls.retries_unknown_outcome:
            # Still expired: a fresh claim by another worker must not be taken from it.
            if Announcement.objects.filter(
                pk=announcement.pk, status=Announcement.Status.SENDING, claimed_at__lt=now - lease
            ).update(
                status=Announcement.Status.PENDING,
                claimed_at=None,
                last_error="worker stopped while posting",
                next_attempt_at=now,
            ):
                again.append(announcement.pk)
        else:
            Announcement.objects.filter(
                pk=announcement.pk, status=Announcement.Status.SENDING, claimed_at__lt=now - lease
            ).update(
                status=Announcement.Status.FAILED,
                claimed_at=None,
                last_error="worker stopped while posting; it may have been posted: check, then "
                "Retry if it is missing",
            )
    lost_after = timedelta(seconds=settings.ANNOUNCE_REQUEUE_AFTER_SECONDS)
    lost = Announcement.objects.filter(
        status=Announcement.Status.PENDING, next_attempt_at__lte=now - lost_after
    ).values_list("pk", flat=True)
    return sorted({*again, *lost})


def retry(announcement_ids: list[int]) -> list[int]:
    """Failed announcements back to pending and their posts enqueued on commit (the admin's Retry);
    returns their ids. last_error stays, so the next attempt asks the channel for an earlier post
    first."""
    with transaction.atomic():
        ids = list(
            Announcement.objects.filter(
                pk__in=announcement_ids, status=Announcement.Status.FAILED
            ).values_list("pk", flat=True)
        )
        Announcement.objects.filter(pk__in=ids, status=Announcement.Status.FAILED).update(
            status=Announcement.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        for pk in ids:
            enqueue(POST_TASK, pk)
    return ids


def channel_states() -> list[dict]:
    """Each known channel, on or off and why, for the admin."""
    states = []
    for name, cls in channels.all_channels().items():
        channel = cls.configured()
        states.append(
            {
                "name": name,
                "label": cls.label,
                "on": channel is not None,
                "targets": [targets.shown(t) for t in channel.targets()] if channel else [],
                "reason": "" if channel else cls.off_reason(),
            }
        )
    return states
