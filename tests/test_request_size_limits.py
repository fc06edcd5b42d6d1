"""Public pages and webhooks refuse bodies larger than they can need, before reading them: nothing a
visitor sends is spooled to disk or held in a worker's memory. The admin keeps Django's limits."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from subscriptions.models import Subscriber


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


def huge_multipart(client, path: str, declared: int):
    """A multipart POST that declares `declared` bytes but sends only a small start of them."""
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="email"\r\n\r\nann@example.org\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="x.bin"\r\n\r\n'
    ).encode() + b"x" * 1024
    return client.generic(
        "POST",
        path,
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
        CONTENT_LENGTH=str(declared),
    )


@pytest.mark.parametrize("path", ["/subscribe/", "/manage/x/", "/confirm/x/"])
def test_a_200_mb_body_to_a_public_page_is_refused_unread(client, guide, path):
    response = huge_multipart(client, path, 200 * 1024 * 1024)

    assert response.status_code == 413
    assert not Subscriber.objects.exists()


def test_a_webhook_body_over_one_megabyte_is_refused(client, db):
    response = client.generic(
        "POST",
        "/anymail/postmark/tracking/",
        b"{}",
        content_type="application/json",
        CONTENT_LENGTH=str(2 * 1024 * 1024),
    )

    assert response.status_code == 413


def test_an_ordinary_form_post_is_well_under_the_limit(client, guide, settings):
    response = client.post("/subscribe/", {"email": "ann@example.org", "website": ""}, follow=True)

    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()


def test_a_file_in_a_public_form_is_refused_and_nothing_is_stored(client, guide):
    upload = SimpleUploadedFile("x.bin", b"x" * 1024)

    response = client.post("/subscribe/", {"email": "ann@example.org", "file": upload})

    assert response.status_code == 400
    assert not Subscriber.objects.exists()
