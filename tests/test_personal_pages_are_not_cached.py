"""Every page reached through a personal link says Cache-Control: private, no-store, whatever the
answer (the page, a refusal, an error): it names one person's address or choices."""

from __future__ import annotations

import pytest

from subscriptions import tokens
from subscriptions.models import Subscriber
from tests.conftest import grant_for


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def ann(guide) -> Subscriber:
    subscriber = Subscriber.objects.create(
        email="ann@example.org", email_key="ann@example.org", status="pending"
    )
    subscriber.new_confirm_nonce()
    subscriber.save()
    return subscriber


def personal_pages(ann: Subscriber, grant_token: str) -> list[str]:
    manage = tokens.manage_token(ann)
    return [
        f"/confirm/{tokens.confirm_token(ann)}/",
        "/confirm/damaged/",
        f"/unsubscribe/{tokens.unsubscribe_token(ann)}/",
        f"/manage/{manage}/",
        f"/manage/{manage}/export.json",
        f"/manage/{manage}/catch-up/",
        f"/manage/{manage}/mail/1/",
        "/manage/damaged/mail/1/",
        "/manage/damaged/",
        "/access/verify/damaged/",
        f"/access/{grant_token}/",
        "/access/not-a-link/",
        "/access-notices/damaged/stop/",
        "/access-data/damaged/",
    ]


def test_every_personal_page_is_private_and_not_stored(client, ann, topic_list):
    _, token = grant_for(topic_list)
    for path in personal_pages(ann, token):
        response = client.get(path)
        assert response["Cache-Control"] == "private, no-store", path


def test_public_pages_keep_their_own_caching(client, guide):
    assert client.get("/").get("Cache-Control") != "private, no-store"
