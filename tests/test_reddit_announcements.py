"""Reddit: one submission per release through the real client (OAuth password grant, /api/submit/)
against tests/fake_channels.FakeReddit; the client never retries by itself, and every retry looks for
our earlier submission first, so a 5xx after the post was made never makes a second one."""

from __future__ import annotations

import pytest

from announcements import posting
from announcements.channels.reddit import Reddit
from announcements.models import Announcement
from guide.models import ChangelogEntry
from guide.publishing import publish
from tests.announcement_helpers import publish_now, retry_when_due

pytestmark = pytest.mark.django_db


def test_a_release_is_a_link_post_to_the_version_page_with_the_post_stored(
    reddit_on, settings, draft, django_capture_on_commit_callbacks
):
    settings.REDDIT_FLAIR_ID = "flair-123"
    settings.REDDIT_FLAIR_TEXT = "Release"
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    [post] = reddit_on.posts
    assert post["subreddit"] == "mlmw"
    assert post["kind"] == "link"
    assert post["url"] == "http://testserver/guides/mlmw/0.10.1/"
    assert post["title"] == "The MLMW guide 0.10.1: Release 0.10.1"
    assert (post["flair_id"], post["flair_text"]) == ("flair-123", "Release")
    [submit] = reddit_on.submits()
    assert submit.form()["resubmit"] == "false"
    assert submit.headers["User-Agent"].startswith("mlmw-tests/1.0")
    assert row.status == Announcement.Status.SENT
    assert (row.external_id, row.url) == (post["name"], post["permalink_url"])
    assert reddit_on.listings() == []  # a first attempt needs no look-up


def test_a_self_post_carries_the_changelog_in_markdown(
    reddit_on, settings, draft, django_capture_on_commit_callbacks
):
    settings.REDDIT_POST_KIND = "self"
    ChangelogEntry.objects.create(
        version=draft, kind="fixed", text="A *typo* in [MML](https://mml-book.github.io/).", order=1
    )
    publish_now(draft, django_capture_on_commit_callbacks)

    [post] = reddit_on.posts
    assert post["kind"] == "self"
    assert "### Added\n\n* A Python packages section with scikit-learn." in post["selftext"]
    assert "* A *typo* in [MML](https://mml-book.github.io/)." in post["selftext"]
    assert "[Read 0.10.1](http://testserver/guides/mlmw/0.10.1/)" in post["selftext"]


def test_a_5xx_after_the_post_was_made_is_not_resubmitted_and_the_retry_finds_the_post(
    reddit_on, draft, django_capture_on_commit_callbacks
):
    reddit_on.script(["ok_then_500"])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    assert len(reddit_on.submits()) == 1  # not resubmitted by the client
    assert row.status == Announcement.Status.PENDING
    assert row.last_countdown >= 1
    assert "Reddit answered 500" in row.last_error

    row = retry_when_due(row)
    assert row.status == Announcement.Status.SENT
    assert len(reddit_on.posts) == 1
    assert len(reddit_on.submits()) == 1
    assert len(reddit_on.listings()) == 1
    assert row.url.endswith(reddit_on.posts[0]["permalink"])  # REDDIT_URL + the post's permalink
    assert row.external_id == reddit_on.posts[0]["name"]


def test_a_5xx_before_the_post_was_made_is_retried_and_posts_once(
    reddit_on, draft, django_capture_on_commit_callbacks
):
    reddit_on.script(["500"])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)
    assert reddit_on.posts == []

    row = retry_when_due(row)
    assert row.status == Announcement.Status.SENT
    assert len(reddit_on.posts) == 1
    assert len(reddit_on.submits()) == 2


def test_ratelimit_is_rescheduled_with_the_wait_reddit_asks_for(
    reddit_on, draft, django_capture_on_commit_callbacks
):
    reddit_on.script([("ratelimit", "Take a break for 9 minutes before trying again.")])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    assert row.status == Announcement.Status.PENDING
    assert row.last_countdown == 540
    assert "RATELIMIT" in row.last_error
    assert reddit_on.posts == []
    row = retry_when_due(row)
    assert row.status == Announcement.Status.SENT
    assert len(reddit_on.posts) == 1


@pytest.mark.parametrize("outcome", ["ratelimit_with_post", "ratelimit_url_in_message"])
def test_ratelimit_carrying_the_post_counts_as_success(
    reddit_on, draft, django_capture_on_commit_callbacks, outcome
):
    reddit_on.script([outcome])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    assert row.status == Announcement.Status.SENT
    assert row.url == reddit_on.posts[0]["permalink_url"]
    assert len(reddit_on.submits()) == 1


def test_a_link_reddit_already_has_from_us_is_recorded_not_reposted(reddit_on, draft):
    publish(draft)
    row = Announcement.objects.get(version=draft)
    Reddit.configured().post(row)  # posted, then the worker died before recording it
    row.attempts = 0
    row.save()

    assert posting.post(row.pk) is None
    row.refresh_from_db()
    assert row.status == Announcement.Status.SENT
    assert len(reddit_on.posts) == 1
    assert [r.outcome for r in reddit_on.submits()] == ["ok", "ok"]  # the second: ALREADY_SUB


def test_a_worker_that_died_while_posting_is_retried_after_its_lease_and_finds_its_post(
    reddit_on, draft, settings
):
    publish(draft)
    row = Announcement.objects.get(version=draft)
    assert posting.claim(row.pk) is not None
    Reddit.configured().post(row)  # reached Reddit, then the worker was killed
    from datetime import timedelta

    from django.utils import timezone

    later = timezone.now() + timedelta(seconds=settings.ANNOUNCE_LEASE_SECONDS + 1)
    ids = posting.sweep(now=later + timedelta(seconds=settings.ANNOUNCE_REQUEUE_AFTER_SECONDS))
    assert ids == [row.pk]
    row = retry_when_due(row)
    assert row.status == Announcement.Status.SENT
    assert len(reddit_on.posts) == 1


def test_a_wrong_password_fails_for_good(
    reddit_on, settings, draft, django_capture_on_commit_callbacks
):
    settings.REDDIT_PASSWORD = "wrong"
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    assert row.status == Announcement.Status.FAILED
    assert "invalid_grant" in row.last_error
    assert reddit_on.submits() == []


def test_a_429_is_rescheduled_after_its_retry_after_and_then_posts_once(
    reddit_on, no_retry_floor, draft, django_capture_on_commit_callbacks
):
    reddit_on.script([("429", "42")])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    assert row.status == Announcement.Status.PENDING
    assert row.last_countdown == 42
    assert "Reddit answered 429" in row.last_error
    row = retry_when_due(row)
    assert row.status == Announcement.Status.SENT
    assert len(reddit_on.posts) == 1


def test_a_wrong_client_secret_fails_for_good(
    reddit_on, settings, draft, django_capture_on_commit_callbacks
):
    settings.REDDIT_CLIENT_SECRET = "wrong"
    [row] = publish_now(draft, django_capture_on_commit_callbacks)

    assert row.status == Announcement.Status.FAILED
    assert "Reddit refused the login: 401" in row.last_error
    assert reddit_on.submits() == []
