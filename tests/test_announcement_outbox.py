"""The Announcement outbox: rows written with the publish, one per configured target; claims admit
one worker; the sweep finds lost work; channels that are off never get in a publish's way."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from announcements import channels, posting
from announcements.models import Announcement
from guide.models import Version
from guide.publishing import PublishError, publish
from tests.conftest_channels import TELEGRAM_CHAT

pytestmark = pytest.mark.django_db


def test_publishing_writes_one_pending_row_per_configured_target_and_posts_on_commit(
    telegram_on, reddit_on, webhook_on, draft, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish(draft)
    rows = Announcement.objects.filter(version=draft)
    assert sorted(rows.values_list("channel", "status")) == [
        ("reddit", "pending"),
        ("telegram", "pending"),
        ("webhook", "pending"),
    ]
    assert telegram_on.requests == reddit_on.requests == webhook_on.requests == []
    for callback in callbacks:
        callback()
    assert sorted(rows.values_list("channel", "status")) == [
        ("reddit", "sent"),
        ("telegram", "sent"),
        ("webhook", "sent"),
    ]


def test_a_failed_publish_writes_no_rows(telegram_on, v0_10_0):
    with pytest.raises(PublishError):
        publish(v0_10_0)  # already published
    assert not Announcement.objects.exists()


def test_channels_that_are_off_get_no_rows_say_so_once_and_do_not_stop_the_publish(
    draft, caplog, django_capture_on_commit_callbacks
):
    channels.said_off.clear()
    with caplog.at_level(logging.INFO, logger="announcements.channels"):
        channels.configured()
        with django_capture_on_commit_callbacks(execute=True):
            publish(draft)
    assert not Announcement.objects.exists()
    assert Version.objects.get(pk=draft.pk).status == Version.Status.PUBLISHED
    messages = [r.getMessage() for r in caplog.records if "is off" in r.getMessage()]
    assert messages == [
        "channel telegram is off: TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are not set",
        "channel reddit is off: REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET, REDDIT_USERNAME, "
        "REDDIT_PASSWORD, REDDIT_USER_AGENT, REDDIT_SUBREDDIT are not all set",
        "channel webhook is off: WEBHOOK_URLS and WEBHOOK_SECRET are not set",
    ]


def test_a_broken_channel_does_not_fail_the_publish(telegram_on, draft, monkeypatch):
    def broken():
        raise RuntimeError("channel registry broken")

    monkeypatch.setattr(channels, "configured", broken)
    publish(draft)
    assert Version.objects.get(pk=draft.pk).status == Version.Status.PUBLISHED
    assert not Announcement.objects.exists()


def test_there_is_one_row_per_version_channel_and_target(telegram_on, draft):
    publish(draft)
    with pytest.raises(IntegrityError):
        Announcement.objects.create(version=draft, channel="telegram", target=TELEGRAM_CHAT)


def test_a_claimed_row_is_not_posted_by_a_second_task(telegram_on, draft):
    publish(draft)
    row = Announcement.objects.get(version=draft)
    assert posting.claim(row.pk) is not None
    assert posting.post(row.pk) is None  # the duplicate finds it claimed
    assert telegram_on.requests == []


def test_the_sweep_enqueues_pending_rows_whose_task_was_lost(telegram_on, draft, settings):
    publish(draft)  # its on-commit task never runs: as if the broker lost it
    row = Announcement.objects.get(version=draft)
    assert posting.sweep() == []
    later = timezone.now() + timedelta(seconds=settings.ANNOUNCE_REQUEUE_AFTER_SECONDS + 1)
    assert posting.sweep(now=later) == [row.pk]


def test_a_telegram_post_left_sending_by_a_dead_worker_fails_for_a_human_to_check(
    telegram_on, draft, settings
):
    publish(draft)
    row = Announcement.objects.get(version=draft)
    posting.claim(row.pk)
    later = timezone.now() + timedelta(seconds=settings.ANNOUNCE_LEASE_SECONDS + 1)
    assert posting.sweep(now=later) == []
    row.refresh_from_db()
    assert row.status == Announcement.Status.FAILED
    assert "may have been posted" in row.last_error


def test_a_row_gives_up_after_the_attempt_limit(settings, draft, webhook_on):
    settings.ANNOUNCE_MAX_ATTEMPTS = 2
    settings.ANNOUNCE_RETRY_BASE_SECONDS = 1
    webhook_on.script([("status", 500), ("status", 500)])
    publish(draft)
    row = Announcement.objects.get(version=draft)
    assert posting.post(row.pk) is not None
    Announcement.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert posting.post(row.pk) is None
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("failed", 2, "webhook answered 500")
    assert len(webhook_on.requests) == 2


def test_a_channel_whose_row_cannot_be_written_does_not_cost_the_others_their_post(
    telegram_on, webhook_on, settings, draft
):
    settings.WEBHOOK_URLS = [f"{webhook_on.url}/{'x' * 600}"]  # longer than the target column
    publish(draft)
    assert list(Announcement.objects.values_list("channel", flat=True)) == ["telegram"]
    assert Version.objects.get(pk=draft.pk).status == Version.Status.PUBLISHED
