"""Channels through the real stack: publish → on-commit → Redis → a real worker process → the three
loopback services, through the real httpx clients. Exactly one post on each, faults included."""

from __future__ import annotations

import pytest

from announcements.models import Announcement
from guide.publishing import publish
from tests.conftest_channels import channel_env
from tests.services import wait_for

pytestmark = [pytest.mark.worker]


def all_settled(version):
    rows = list(Announcement.objects.filter(version=version))
    done = len(rows) == 3 and all(
        row.status in {Announcement.Status.SENT, Announcement.Status.FAILED} for row in rows
    )
    return rows if done else None


def test_a_publish_posts_exactly_once_on_each_channel(
    fake_telegram, fake_reddit, webhook_receiver, start_worker, settings, draft
):
    start_worker(**channel_env(settings, fake_telegram, fake_reddit, webhook_receiver))

    publish(draft)

    rows = wait_for(lambda: all_settled(draft), what="the three announcements to settle")
    assert sorted((row.channel, row.status) for row in rows) == [
        ("reddit", "sent"),
        ("telegram", "sent"),
        ("webhook", "sent"),
    ]
    assert len(fake_telegram.posts) == len(fake_reddit.posts) == len(webhook_receiver.posts) == 1
    assert fake_reddit.posts[0]["url"] == "http://testserver/guides/mlmw/0.10.1/"
    assert "0.10.1" in fake_telegram.posts[0]["text"]


def test_transient_faults_are_retried_by_the_worker_with_countdowns_and_still_post_once(
    fake_telegram, fake_reddit, webhook_receiver, start_worker, settings, draft
):
    fake_telegram.script([("retry_after", 1)])
    fake_reddit.script(["ok_then_500"])
    webhook_receiver.script([("status", 503, {"Retry-After": "1"})])
    env = channel_env(settings, fake_telegram, fake_reddit, webhook_receiver)
    start_worker(**env, ANNOUNCE_RETRY_BASE_SECONDS="1", ANNOUNCE_RETRY_MAX_SECONDS="2")

    publish(draft)

    rows = wait_for(lambda: all_settled(draft), what="the three announcements to settle")
    assert {row.channel: row.status for row in rows} == {
        "reddit": "sent",
        "telegram": "sent",
        "webhook": "sent",
    }
    assert {row.channel: row.attempts for row in rows} == {"reddit": 2, "telegram": 2, "webhook": 2}
    by_channel = {row.channel: row for row in rows}
    assert by_channel["telegram"].last_countdown == 1
    assert by_channel["webhook"].last_countdown == 1
    assert len(fake_telegram.posts) == len(fake_reddit.posts) == len(webhook_receiver.posts) == 1
    assert len(fake_reddit.submits()) == 1  # the retry found the post instead of submitting again
