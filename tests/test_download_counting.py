"""Downloads that count right: the personal link opens a page that counts nothing; each new download
counts once; a resumed one (a Range past the first byte, soon after a counted download) and HEAD count
nothing, and a resume may finish a download that used the last one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from access.models import Download, Grant
from tests.conftest import grant_for
from tests.pages import text

pytestmark = pytest.mark.usefixtures("clear_cache")


def count(grant: Grant) -> int:
    grant.refresh_from_db()
    return grant.download_count


def test_opening_the_link_shows_the_file_size_downloads_left_and_expiry_and_counts_nothing(
    topic_list,
):
    grant, token = grant_for(topic_list)
    client = Client()

    for _ in range(3):  # a scanner, a preview, the reader
        page = client.get(f"/access/{token}/")
    client.head(f"/access/{token}/")

    assert page.status_code == 200
    shown = text(page)
    assert "mdtp-topic-list.md" in shown
    assert "18.4 KB" in shown
    assert f"Downloads left{grant.max_downloads} of {grant.max_downloads}" in shown
    assert "Link works until" in shown
    assert page["Cache-Control"] == "private, no-store"
    assert f'href="/access/{token}/file/"' in page.content.decode()
    assert count(grant) == 0 and not Download.objects.exists()


def test_a_new_download_counts_once_and_its_resume_counts_nothing(topic_list):
    grant, token = grant_for(topic_list)
    client = Client()

    first = client.get(f"/access/{token}/file/")
    b"".join(first.streaming_content)
    resumed = client.get(f"/access/{token}/file/", headers={"Range": "bytes=100-"})
    b"".join(resumed.streaming_content)
    client.head(f"/access/{token}/file/")

    assert (first.status_code, resumed.status_code) == (200, 206)
    assert count(grant) == 1
    again = client.get(f"/access/{token}/file/")  # a new download from the start
    b"".join(again.streaming_content)
    assert count(grant) == 2
    from_zero = client.get(f"/access/{token}/file/", headers={"Range": "bytes=0-"})
    b"".join(from_zero.streaming_content)
    assert count(grant) == 3  # a Range from the first byte is a new download


def test_a_range_without_a_recent_download_is_a_new_download(topic_list):
    grant, token = grant_for(topic_list)
    client = Client()
    b"".join(client.get(f"/access/{token}/file/").streaming_content)
    Download.objects.update(at=timezone.now() - timedelta(days=2))

    late = client.get(f"/access/{token}/file/", headers={"Range": "bytes=100-"})
    b"".join(late.streaming_content)

    assert count(grant) == 2


def test_a_download_that_used_the_last_one_can_still_be_resumed_and_nothing_new_starts(
    topic_list,
):
    grant, token = grant_for(topic_list)
    Grant.objects.filter(pk=grant.pk).update(download_count=grant.max_downloads - 1)
    client = Client()
    b"".join(client.get(f"/access/{token}/file/").streaming_content)  # the last one
    assert count(grant) == grant.max_downloads

    resumed = client.get(f"/access/{token}/file/", headers={"Range": "bytes=100-"})
    fresh = client.get(f"/access/{token}/file/")
    page = client.get(f"/access/{token}/")

    assert resumed.status_code == 206
    assert fresh.status_code == 410
    assert page.status_code == 410
    assert count(grant) == grant.max_downloads
