"""Access requests and grants are personal data: in the subscriber's JSON export, gone with erasure,
and purged by a beat task once denied, never verified, expired or revoked for the retention period."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from access.models import AccessRequest, Download, Grant
from access.tasks import purge_access_requests
from subscriptions import lifecycle, tokens
from subscriptions.models import Subscriber
from tests.conftest import grant_for

ADDRESS = "ann@example.org"


@pytest.fixture
def subscriber(guide) -> Subscriber:
    subscriber = Subscriber.objects.create(
        email=ADDRESS, email_key=ADDRESS, status="confirmed", confirmed_at=timezone.now()
    )
    subscriber.guides.add(guide)
    return subscriber


def test_the_json_export_includes_requests_grants_and_downloads(client, subscriber, topic_list):
    grant, token = grant_for(topic_list, ADDRESS)
    AccessRequest.objects.filter(pk=grant.request_id).update(reason="For my course.")
    client.get(f"/access/{token}/file/", REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT="Reader")

    response = client.get(f"/manage/{tokens.manage_token(subscriber)}/export.json")
    data = json.loads(response.content)
    (record,) = data["access_requests"]
    assert record["artifact"] == "MDTP topic list"
    assert record["reason"] == "For my course."
    assert record["status"] == "approved"
    (download,) = record["grant"]["downloads"]
    assert (download["ip"], download["user_agent"]) == ("203.0.113.5", "Reader")
    assert token not in response.content.decode()


def test_erasure_removes_requests_grants_and_the_download_log(client, subscriber, topic_list):
    _, token = grant_for(topic_list, ADDRESS)
    client.get(f"/access/{token}/file/")
    AccessRequest.objects.create(
        artifact=topic_list, email="bob@example.org", email_key="bob@example.org"
    )

    client.post(f"/manage/{tokens.manage_token(subscriber)}/erase/", {"confirm": "yes"})

    assert not AccessRequest.objects.filter(email_key=ADDRESS).exists()
    assert not Grant.objects.exists() and not Download.objects.exists()
    assert AccessRequest.objects.filter(email_key="bob@example.org").exists()  # others stay


def test_erasure_from_the_admin_path_removes_requests_too(subscriber, topic_list):
    grant_for(topic_list, ADDRESS)
    lifecycle.erase(subscriber, how="admin")
    assert not AccessRequest.objects.exists()


def test_the_purge_deletes_old_finished_requests_and_keeps_the_rest(topic_list, settings):
    settings.ACCESS_RETENTION_DAYS = 90
    now = timezone.now()
    old = now - timedelta(days=91)

    def request(email, status, **fields):
        return AccessRequest.objects.create(
            artifact=topic_list, email=email, email_key=email, status=status, **fields
        )

    request("denied-old@example.org", "denied", decided_at=old)
    request("denied-new@example.org", "denied", decided_at=now)
    request("unverified-old@example.org", "unverified", created_at=old)
    request("pending-old@example.org", "pending", created_at=old)  # waits for review: kept
    grant_for(topic_list, "expired-old@example.org", expires_at=old)
    grant_for(topic_list, "revoked-old@example.org", revoked_at=old)
    grant_for(topic_list, "live@example.org")

    assert purge_access_requests.apply().get() >= 4
    left = set(AccessRequest.objects.values_list("email", flat=True))
    assert left == {"denied-new@example.org", "pending-old@example.org", "live@example.org"}


def test_the_purge_is_on_the_beat_schedule_that_the_clock_also_runs():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-access-requests"]
    assert entry["task"] == "access.tasks.purge_access_requests"
    from mlmw.celery import app

    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
