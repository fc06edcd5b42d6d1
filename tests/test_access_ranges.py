"""Downloads resume: HEAD and single byte ranges work, unsatisfiable ones get 416, and production can
hand the transfer to the web server."""

from __future__ import annotations

import pytest

from access.models import Download
from tests.conftest import TOPIC_LIST_BYTES, grant_for

SIZE = len(TOPIC_LIST_BYTES)


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def link(topic_list) -> str:
    _, token = grant_for(topic_list)
    return f"/access/{token}/file/"


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_head_answers_the_headers_without_a_body_and_without_counting(client, link):
    response = client.head(link)
    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Length"] == str(SIZE)
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="mdtp-topic-list.md"'
    assert not Download.objects.exists()


def test_a_range_resumes_a_download(client, link):
    response = client.get(link, headers={"Range": "bytes=100-"})
    assert response.status_code == 206
    assert body(response) == TOPIC_LIST_BYTES[100:]
    assert response["Content-Range"] == f"bytes 100-{SIZE - 1}/{SIZE}"
    assert response["Content-Length"] == str(SIZE - 100)
    assert Download.objects.get().byte_range == "bytes=100-"


def test_a_closed_range_and_a_suffix_range(client, link):
    middle = client.get(link, headers={"Range": "bytes=10-19"})
    assert (middle.status_code, body(middle)) == (206, TOPIC_LIST_BYTES[10:20])
    tail = client.get(link, headers={"Range": "bytes=-25"})
    assert (tail.status_code, body(tail)) == (206, TOPIC_LIST_BYTES[-25:])
    assert tail["Content-Range"] == f"bytes {SIZE - 25}-{SIZE - 1}/{SIZE}"


def test_a_range_past_the_end_is_unsatisfiable(client, link):
    response = client.get(link, headers={"Range": f"bytes={SIZE}-"})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"
    assert not Download.objects.exists()


def test_several_ranges_or_a_stale_if_range_get_the_whole_file(client, link):
    several = client.get(link, headers={"Range": "bytes=0-1,5-6"})
    assert (several.status_code, body(several)) == (200, TOPIC_LIST_BYTES)
    stale = client.get(link, headers={"Range": "bytes=5-", "If-Range": '"another-revision"'})
    assert (stale.status_code, body(stale)) == (200, TOPIC_LIST_BYTES)
    current = client.get(link, headers={"Range": "bytes=5-", "If-Range": stale["ETag"]})
    assert (current.status_code, body(current)) == (206, TOPIC_LIST_BYTES[5:])


def test_the_file_streams_in_bounded_chunks(client, link):
    from access.serving import CHUNK

    response = client.get(link)
    assert response.streaming
    assert max(len(chunk) for chunk in response.streaming_content) <= CHUNK


def test_x_accel_redirect_hands_the_transfer_to_nginx(client, topic_list, settings):
    settings.ACCESS_SENDFILE = "x-accel-redirect"
    settings.ACCESS_SENDFILE_PREFIX = "/protected/"
    _, token = grant_for(topic_list)
    response = client.get(f"/access/{token}/file/")
    revision = topic_list.latest_revision()
    assert response["X-Accel-Redirect"] == "/protected/" + revision.file.name
    assert response.content == b""
    assert response["Content-Disposition"] == 'attachment; filename="mdtp-topic-list.md"'
    assert response["Cache-Control"] == "private, no-store"
    assert Download.objects.count() == 1  # still counted and logged


def test_x_sendfile_names_the_stored_path(client, topic_list, settings, media_root):
    settings.ACCESS_SENDFILE = "x-sendfile"
    _, token = grant_for(topic_list)
    response = client.get(f"/access/{token}/file/")
    assert response["X-Sendfile"] == str(media_root / topic_list.latest_revision().file.name)


def test_a_range_too_long_to_name_any_offset_is_unsatisfiable_on_both_downloads(
    client, link, topic_list
):
    huge = "bytes=" + "9" * 5000 + "-"
    public = topic_list.revisions.get()
    public.public = True
    public.save()

    personal = client.get(link, HTTP_RANGE=huge)
    anyone = client.get(
        f"/artifacts/{topic_list.pk}/revisions/{public.pk}/download/", HTTP_RANGE=huge
    )

    assert (personal.status_code, anyone.status_code) == (416, 416)
    assert personal["Content-Range"] == f"bytes */{SIZE}"
    assert not Download.objects.exists()  # a refused range is no download
