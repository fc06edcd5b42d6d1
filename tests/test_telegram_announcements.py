"""Telegram: one sendMessage per release, escaped, within the limit; every fault ends in one post or a
clear failure, never two. Through the real httpx client against tests/fake_channels.FakeTelegram."""

from __future__ import annotations

import html
import logging

import pytest

from announcements import posting
from announcements.models import Announcement, MovedTarget
from guide.models import ChangelogEntry
from guide.publishing import publish
from tests.announcement_helpers import publish_now, retry_when_due
from tests.conftest import make_version
from tests.conftest_channels import TELEGRAM_CHAT
from tests.fake_channels import TELEGRAM_TOKEN, telegram_visible_text

pytestmark = pytest.mark.django_db


def test_a_release_is_posted_once_as_escaped_html_with_the_message_id_stored(
    telegram_on, draft, django_capture_on_commit_callbacks
):
    ChangelogEntry.objects.create(
        version=draft,
        kind="fixed",
        text='Escaped <script>alert("x")</script> & *emphasis*',
        order=1,
    )
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    [post] = telegram_on.posts
    assert post["chat_id"] == TELEGRAM_CHAT
    assert post["parse_mode"] == "HTML"
    assert post["link_preview_options"] == {"is_disabled": False}
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; emphasis" in post["text"]
    visible = telegram_visible_text(post["text"])  # what Telegram shows; raises if it would refuse
    assert visible.startswith("The MLMW guide 0.10.1: Release 0.10.1")
    assert "• A Python packages section with scikit-learn." in visible
    assert '<a href="http://testserver/guides/mlmw/0.10.1/">' in post["text"]
    assert row.status == Announcement.Status.SENT
    assert row.external_id == str(post["message_id"])
    assert row.url == f"https://t.me/mlmw_guide/{post['message_id']}"
    assert row.attempts == 1


def test_link_previews_can_be_turned_off(
    telegram_on, settings, draft, django_capture_on_commit_callbacks
):
    settings.TELEGRAM_LINK_PREVIEW = False
    publish_now(draft, django_capture_on_commit_callbacks)
    assert telegram_on.posts[0]["link_preview_options"] == {"is_disabled": True}


def test_a_long_changelog_is_shortened_within_the_limit_with_a_link_to_the_rest(
    telegram_on, draft, django_capture_on_commit_callbacks
):
    for order in range(1, 80):
        ChangelogEntry.objects.create(
            version=draft, kind="added", text=f"Entry {order} <b>" + "ü" * 80, order=order
        )
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    [post] = telegram_on.posts
    assert len(post["text"].encode("utf-16-le")) // 2 <= 4096
    visible = telegram_visible_text(post["text"])
    shown = visible.count("• ")
    assert 10 < shown < 80
    assert f"… and {80 - shown} more changes." in visible
    assert "Read 0.10.1 and the full changelog" in visible
    assert row.status == Announcement.Status.SENT


def test_429_waits_at_least_retry_after_then_posts_once(
    telegram_on, no_retry_floor, draft, django_capture_on_commit_callbacks
):
    telegram_on.script([("retry_after", 37)])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    assert telegram_on.posts == []
    assert row.status == Announcement.Status.PENDING
    assert row.last_countdown == 37
    assert (row.next_attempt_at - row.updated_at).total_seconds() == pytest.approx(37, abs=1)
    assert "Too Many Requests" in row.last_error
    # A duplicate task arriving early does not post before the wait is over.
    assert posting.post(row.pk) == pytest.approx(37, abs=1)
    assert len(telegram_on.sends()) == 1

    row = retry_when_due(row)
    assert row.status == Announcement.Status.SENT
    assert len(telegram_on.posts) == 1
    assert len(telegram_on.sends()) == 2


def test_a_migrated_group_is_posted_to_its_new_id_once_and_remembered(
    telegram_on, draft, v0_10_0, django_capture_on_commit_callbacks
):
    telegram_on.script([("migrate", "-1009876543210")])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    assert [post["chat_id"] for post in telegram_on.posts] == ["-1009876543210"]
    assert row.status == Announcement.Status.SENT
    assert MovedTarget.resolve("telegram", TELEGRAM_CHAT) == "-1009876543210"
    # The next release goes to the new id at once.
    later = make_version(draft.guide, "0.10.2", draft.content + "\nMore.\n")
    publish_now(later, django_capture_on_commit_callbacks)
    assert [r.json()["chat_id"] for r in telegram_on.sends()] == [
        TELEGRAM_CHAT,
        "-1009876543210",
        "-1009876543210",
    ]


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        ("forbidden", "403 Forbidden: bot was kicked"),
        ("chat_not_found", "400 Bad Request: chat not found"),
        ("parse_error", "400 Bad Request: can't parse entities"),
    ],
)
def test_a_refusal_fails_for_good_after_one_request(
    telegram_on, draft, django_capture_on_commit_callbacks, outcome, error
):
    telegram_on.script([outcome])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    assert row.status == Announcement.Status.FAILED
    assert error in row.last_error
    assert telegram_on.posts == []
    assert posting.post(row.pk) is None  # a redelivered task does nothing
    assert posting.sweep() == []
    assert len(telegram_on.sends()) == 1


@pytest.mark.parametrize(
    ("outcome", "posted"), [("ok_then_500", 1), ("ok_then_drop", 1), ("500", 0)]
)
def test_an_answer_that_leaves_the_outcome_unknown_fails_for_a_human_to_check_never_posting_twice(
    telegram_on, draft, django_capture_on_commit_callbacks, outcome, posted
):
    telegram_on.script([outcome])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    assert row.status == Announcement.Status.FAILED
    assert "may have been posted; check the chat, then Retry if it is missing" in row.last_error
    assert len(telegram_on.posts) == posted
    assert posting.post(row.pk) is None
    assert posting.sweep() == []
    assert len(telegram_on.sends()) == 1


def test_an_unreachable_api_is_retried_with_backoff(settings, telegram_on, draft):
    settings.TELEGRAM_API_URL = "http://127.0.0.1:9"  # discard port: connection refused
    publish(draft)
    row = Announcement.objects.get(version=draft)
    assert posting.post(row.pk) is not None
    row.refresh_from_db()
    assert row.status == Announcement.Status.PENDING
    assert "cannot reach Telegram" in row.last_error
    settings.TELEGRAM_API_URL = telegram_on.url
    assert retry_when_due(row).status == Announcement.Status.SENT
    assert len(telegram_on.posts) == 1
    assert html.unescape(telegram_on.posts[0]["text"]).count("0.10.1") >= 1


def test_the_bot_token_never_reaches_the_log(
    telegram_on, draft, caplog, django_capture_on_commit_callbacks
):
    telegram_on.script([("retry_after", 3)])
    with caplog.at_level(logging.DEBUG):
        [row] = publish_now(draft, django_capture_on_commit_callbacks)
        retry_when_due(row)
    assert caplog.records
    assert not [r for r in caplog.records if TELEGRAM_TOKEN in r.getMessage()]
