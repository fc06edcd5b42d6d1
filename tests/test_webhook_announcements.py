"""The JSON webhook channel: one signed POST per URL per release; retries carry the same delivery id."""

from __future__ import annotations

import json

import pytest

from announcements.models import Announcement
from tests.announcement_helpers import publish_now, retry_when_due
from tests.conftest_channels import WEBHOOK_SECRET
from tests.fake_channels import verify_signature

pytestmark = pytest.mark.django_db


def test_each_url_gets_the_release_as_signed_json_once(
    webhook_on, settings, draft, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_URLS = [f"{webhook_on.url}/a", f"{webhook_on.url}/b"]
    rows = publish_now(draft, django_capture_on_commit_callbacks)

    assert sorted(post["path"] for post in webhook_on.posts) == ["/a", "/b"]
    for post in webhook_on.posts:
        assert verify_signature(WEBHOOK_SECRET, post["headers"]["X-MLMW-Signature"], post["body"])
        assert not verify_signature(
            "another-secret", post["headers"]["X-MLMW-Signature"], post["body"]
        )
        body = json.loads(post["body"])
        assert body["event"] == "release.published"
        assert body["id"] == post["headers"]["X-MLMW-Delivery"]
        assert body["version"]["number"] == "0.10.1"
        assert body["version"]["url"] == "http://testserver/guides/mlmw/0.10.1/"
        assert body["version"]["changelog"] == [
            {"kind": "added", "text": "A Python packages section with scikit-learn."}
        ]
        assert body["guide"]["slug"] == "mlmw"
    assert [row.status for row in rows] == [Announcement.Status.SENT] * 2


def test_a_tampered_body_fails_verification(webhook_on, draft, django_capture_on_commit_callbacks):
    publish_now(draft, django_capture_on_commit_callbacks)
    [post] = webhook_on.posts
    tampered = post["body"].replace(b"0.10.1", b"9.9.9")
    assert not verify_signature(WEBHOOK_SECRET, post["headers"]["X-MLMW-Signature"], tampered)


def test_503_with_retry_after_is_retried_after_that_wait_with_the_same_delivery_id(
    webhook_on, draft, django_capture_on_commit_callbacks
):
    webhook_on.script([("status", 503, {"Retry-After": "45"})])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)
    assert row.status == Announcement.Status.PENDING
    assert row.last_countdown == 45

    row = retry_when_due(row)
    assert row.status == Announcement.Status.SENT
    first, second = webhook_on.requests
    assert first.headers["X-MLMW-Delivery"] == second.headers["X-MLMW-Delivery"]
    assert len(webhook_on.posts) == 1


def test_a_4xx_fails_for_good(webhook_on, draft, django_capture_on_commit_callbacks):
    webhook_on.script([("status", 410)])
    [row] = publish_now(draft, django_capture_on_commit_callbacks)
    assert row.status == Announcement.Status.FAILED
    assert row.last_error == "webhook answered 410"
