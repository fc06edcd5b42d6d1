"""The README badge: the latest published number as a small, cacheable SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from django.utils.cache import get_max_age

from guide.badge import badge_svg
from guide.models import Guide
from guide.publishing import publish
from tests.conftest import make_version

SVG = "{http://www.w3.org/2000/svg}"


def parse_xml(data: bytes | str) -> ET.Element:
    return ET.fromstring(data)  # noqa: S314 - our own response, not untrusted input


def svg_texts(response) -> list[str]:
    root = parse_xml(response.content)
    return [t.text for t in root.iter(f"{SVG}text")]


def test_the_badge_shows_the_latest_published_number(client, draft):
    response = client.get("/guides/mlmw/badge.svg")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
    root = parse_xml(response.content)
    assert root.get("aria-label") == "mlmw: v0.10.0"
    assert root.findtext(f"{SVG}title") == "mlmw: v0.10.0"
    assert svg_texts(response) == ["mlmw", "mlmw", "v0.10.0", "v0.10.0"]
    assert b"0.10.1" not in response.content  # the draft is not announced
    assert b"#007ec6" in response.content


def test_the_badge_may_be_cached_publicly_for_a_short_while(client, v0_10_0, settings):
    response = client.get("/guides/mlmw/badge.svg")

    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert "public" in cache_control
    assert get_max_age(response) == settings.MLMW_BADGE_MAX_AGE == 300
    assert response["ETag"] == '"badge-mlmw-0.10.0"'


def test_a_request_with_the_current_etag_is_answered_not_modified(client, v0_10_0):
    etag = client.get("/guides/mlmw/badge.svg")["ETag"]

    response = client.get("/guides/mlmw/badge.svg", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag


def test_publishing_a_new_version_changes_the_badge_and_its_etag(client, draft):
    old_etag = client.get("/guides/mlmw/badge.svg")["ETag"]

    publish(draft)
    response = client.get("/guides/mlmw/badge.svg", headers={"If-None-Match": old_etag})

    assert response.status_code == 200
    assert svg_texts(response)[2] == "v0.10.1"
    assert response["ETag"] == '"badge-mlmw-0.10.1"' != old_etag


def test_a_guide_with_nothing_published_is_unreleased(client, guide):
    make_version(guide, "0.1.0", "# draft\n")

    response = client.get("/guides/mlmw/badge.svg")

    assert response.status_code == 200
    assert svg_texts(response) == ["mlmw", "mlmw", "unreleased", "unreleased"]
    assert b"#9f9f9f" in response.content
    assert response["ETag"] == '"badge-mlmw-none"'


def test_the_badge_of_an_unknown_guide_is_not_found(client, v0_10_0):
    response = client.get("/guides/nope/badge.svg")

    assert response.status_code == 404
    assert b"<svg" not in response.content


def test_each_guide_has_its_own_badge(client, v0_10_0):
    other = Guide.objects.create(slug="mdtp", title="MDTP")
    make_version(other, "1.1.0", "# x\n", published_at=v0_10_0.published_at, bump="major")

    assert svg_texts(client.get("/guides/mdtp/badge.svg"))[2] == "v1.1.0"
    assert svg_texts(client.get("/guides/mlmw/badge.svg"))[2] == "v0.10.0"


def test_badge_text_is_escaped():
    svg = badge_svg("<x>", 'v1 & "2"', ok=False)

    assert "<x>" not in svg
    assert "&lt;x&gt;" in svg
    root = parse_xml(svg)
    assert root.get("aria-label") == '<x>: v1 & "2"'
    assert [t.text for t in root.iter(f"{SVG}text")] == ["<x>", "<x>", 'v1 & "2"', 'v1 & "2"']


def test_a_longer_message_makes_a_wider_badge():
    narrow = parse_xml(badge_svg("mlmw", "v1.0.0"))
    wide = parse_xml(badge_svg("mlmw", "v100.200.300"))

    assert int(wide.get("width")) > int(narrow.get("width"))
