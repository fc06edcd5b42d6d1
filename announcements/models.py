"""Announcements: one row per (published version, channel, target), the outbox of the channel posts."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from announcements import targets
from guide.models import Version


class Announcement(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # waiting for a worker (next_attempt_at)
        SENDING = "sending", "Sending"  # claimed by a worker (claimed_at)
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"  # for good, until someone presses Retry

    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="announcements")
    channel = models.CharField(max_length=32, help_text="telegram, reddit, webhook, …")
    target = models.CharField(
        max_length=500, help_text="Where the channel posts: chat id, subreddit, URL."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # The countdown the last transient failure asked for (Telegram's retry_after, Reddit's
    # RATELIMIT wait, backoff otherwise), in seconds.
    last_countdown = models.FloatField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True, help_text="The post's id there.")
    url = models.URLField(max_length=500, blank=True, help_text="The post, where it has a page.")
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "channel", "target"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "channel", "target"], name="one_announcement_per_target"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.version} on {self.channel} ({targets.shown(self.target)})"


class MovedTarget(models.Model):
    """A target that moved: Telegram answers migrate_to_chat_id when a group became a supergroup.
    Posts to `target` go to `moved_to` from then on, whatever the configuration still says."""

    channel = models.CharField(max_length=32)
    target = models.CharField(max_length=500)
    moved_to = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "target"], name="one_move_per_target")
        ]

    def __str__(self) -> str:
        return f"{self.channel}: {self.target} → {self.moved_to}"

    @classmethod
    def resolve(cls, channel: str, target: str) -> str:
        """Where posts for `target` go now (following chains of moves, at most a few)."""
        seen = {target}
        for _ in range(5):
            moved = cls.objects.filter(channel=channel, target=target).first()
            if moved is None or moved.moved_to in seen:
                break
            target = moved.moved_to
            seen.add(target)
        return target

    @classmethod
    def record(cls, channel: str, target: str, moved_to: str) -> None:
        cls.objects.update_or_create(
            channel=channel, target=target, defaults={"moved_to": moved_to}
        )
