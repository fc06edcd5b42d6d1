"""Announcements in the admin: which channels are on, each post with its link or its error, filters,
and Retry for failed ones (which posts once, after looking for an earlier post where it can)."""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers

from announcements.models import Announcement
from tests.announcement_helpers import publish_now
from tests.pages import hrefs, text

ANNOUNCEMENTS = "/admin/announcements/announcement/"

pytestmark = pytest.mark.django_db


def press_retry(client, row: Announcement, capture):
    """The changelist's Retry action on `row`, with the on-commit task run (eager, in-process)."""
    with capture(execute=True):
        return client.post(
            ANNOUNCEMENTS,
            {"action": "retry_failed", "index": "0", helpers.ACTION_CHECKBOX_NAME: [row.pk]},
            follow=True,
        )


def test_the_list_says_which_channels_are_on_and_why_the_others_are_off(
    editor_client, telegram_on, draft
):
    page = text(editor_client.get(ANNOUNCEMENTS))
    assert "Telegram: on, posts to -1001234567890" in page
    assert "Reddit: off (REDDIT_CLIENT_ID, " in page
    assert "JSON webhook: off (WEBHOOK_URLS and WEBHOOK_SECRET are not set)" in page


def test_each_post_is_listed_with_its_link_and_filters_find_the_failed_ones(
    editor_client, telegram_on, reddit_on, draft, django_capture_on_commit_callbacks
):
    reddit_on.script([("ratelimit", "x")])  # no wait in it: a plain backoff
    telegram_on.script(["forbidden"])
    publish_now(draft, django_capture_on_commit_callbacks)

    failed = text(editor_client.get(ANNOUNCEMENTS + "?status__exact=failed"))
    assert "Forbidden: bot was kicked" in failed
    assert "RATELIMIT" not in failed
    pending = text(editor_client.get(ANNOUNCEMENTS + "?channel=reddit"))
    assert "RATELIMIT" in pending


def test_retry_posts_a_failed_announcement_once(
    editor_client, telegram_on, draft, django_capture_on_commit_callbacks
):
    telegram_on.script(["chat_not_found"])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)
    assert row.status == Announcement.Status.FAILED

    response = press_retry(editor_client, row, django_capture_on_commit_callbacks)
    assert "1 announcement(s) queued again." in text(response)
    row.refresh_from_db()
    assert row.status == Announcement.Status.SENT
    assert len(telegram_on.posts) == 1
    assert f"https://t.me/mlmw_guide/{row.external_id}" in hrefs(editor_client.get(ANNOUNCEMENTS))


def test_retry_leaves_sent_announcements_alone(
    editor_client, telegram_on, draft, django_capture_on_commit_callbacks
):
    [row] = publish_now(draft, django_capture_on_commit_callbacks)
    response = press_retry(editor_client, row, django_capture_on_commit_callbacks)
    assert "1 not failed, left as they are." in text(response)
    assert len(telegram_on.posts) == 1


def test_nobody_adds_edits_or_deletes_an_announcement_by_hand(
    superuser, client, telegram_on, draft, django_capture_on_commit_callbacks
):
    client.force_login(superuser)
    [row] = publish_now(draft, django_capture_on_commit_callbacks)
    assert client.get(ANNOUNCEMENTS + "add/").status_code == 403
    client.post(f"{ANNOUNCEMENTS}{row.pk}/change/", {"status": "pending", "attempts": "0"})
    assert client.post(f"{ANNOUNCEMENTS}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Announcement.Status.SENT, 1)


def test_webhook_urls_and_their_tokens_are_masked_everywhere_in_the_admin(
    editor_client, settings, webhook_on, draft, django_capture_on_commit_callbacks
):
    url = f"{webhook_on.url}/hooks/T0KEN-in-path?key=s3cret"
    settings.WEBHOOK_URLS = [url]
    webhook_on.script([("status", 403)])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)
    assert row.status == "failed" and row.target == url

    pages = [
        editor_client.get(ANNOUNCEMENTS).content.decode(),
        editor_client.get(f"{ANNOUNCEMENTS}{row.pk}/change/").content.decode(),
    ]

    host = url.split("/hooks/")[0]
    for page in pages:
        assert "T0KEN-in-path" not in page and "s3cret" not in page
        assert f"{host}/…" in page
