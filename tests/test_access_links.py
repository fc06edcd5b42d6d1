"""A personal link that does not work answers with one clear page, whatever the reason, with a
"Request again" button and nothing about any other grant; it never shows a trace."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from access.models import Download, Grant
from tests.conftest import TOPIC_LIST_BYTES, grant_for
from tests.pages import links, text


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


def refused(response, artifact) -> str:
    assert response.status_code == 410
    assert response["Cache-Control"] == "private, no-store"
    page = text(response)
    assert "This download link does not work" in page
    assert ("Request again", artifact.get_request_url()) in links(response)
    assert "Traceback" not in page and "@" not in page  # no trace, no address
    return page


def test_a_live_link_downloads_and_counts(client, topic_list):
    grant, token = grant_for(topic_list)
    response = client.get(f"/access/{token}/file/")
    assert b"".join(response.streaming_content) == TOPIC_LIST_BYTES
    grant.refresh_from_db()
    assert grant.download_count == 1


def test_a_tampered_link_is_refused(client, topic_list):
    _, token = grant_for(topic_list)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    response = client.get(f"/access/{tampered}/")
    assert response.status_code == 410
    assert "The link may have been cut or changed." in text(response)
    assert ("Request again", "/#access") in links(response)
    assert not Download.objects.exists()


def test_an_expired_link_is_refused(client, topic_list):
    grant, token = grant_for(topic_list)
    with time_machine.travel(grant.expires_at + timedelta(seconds=1), tick=False):
        page = refused(client.get(f"/access/{token}/file/"), topic_list)
    assert "has expired" in page
    assert not Download.objects.exists()


def test_a_revoked_link_is_refused(client, topic_list, reviewing_editor):
    grant, token = grant_for(topic_list)
    client.force_login(reviewing_editor)
    client.post(
        "/admin/access/grant/",
        {"action": "revoke_selected", "_selected_action": [str(grant.pk)]},
    )
    client.logout()
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    page = refused(client.get(f"/access/{token}/file/"), topic_list)
    assert "withdrawn" in page


def test_a_link_over_its_download_cap_is_refused(client, topic_list):
    grant, token = grant_for(topic_list, max_downloads=2)
    for _ in range(2):
        assert client.get(f"/access/{token}/file/").status_code == 200
    page = refused(client.get(f"/access/{token}/file/"), topic_list)
    assert "as many times as it may be" in page
    grant.refresh_from_db()
    assert grant.download_count == 2
    assert Download.objects.count() == 2


def test_every_refusal_has_the_same_page_shape(client, topic_list):
    """Only the one sentence of the reason differs: nothing about other grants or the artifact's
    requests shows, whichever link is used."""
    _, live = grant_for(topic_list, email="a@example.org", revoked_at=timezone.now())
    _, capped = grant_for(topic_list, email="b@example.org", max_downloads=0)
    pages = [text(client.get(f"/access/{token}/file/")) for token in (live, capped)]
    first, second = (page.replace("This link was withdrawn.", "X") for page in pages)
    second = second.replace("This link has been used as many times as it may be.", "X")
    assert first == second


def test_the_token_is_stored_only_as_its_hash(topic_list):
    grant, token = grant_for(topic_list)
    stored = Grant.objects.filter(pk=grant.pk).values()[0]
    assert token not in {str(value) for value in stored.values()}


def test_too_many_downloads_from_one_ip_are_slowed_down(client, topic_list, settings):
    settings.ACCESS_DOWNLOAD_RATE_PER_IP = "3/h"
    _, token = grant_for(topic_list)
    statuses = [client.head(f"/access/{token}/file/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "Too many downloads" in text(client.get(f"/access/{token}/file/"))


def test_public_downloads_count_against_the_same_per_ip_limit(client, topic_list, settings):
    settings.ACCESS_DOWNLOAD_RATE_PER_IP = "3/h"
    revision = topic_list.revisions.get()
    revision.public = True
    revision.save()
    url = f"/artifacts/{topic_list.pk}/revisions/{revision.pk}/download/"

    statuses = [client.head(url).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert client.get(url)["Retry-After"] == "60"
