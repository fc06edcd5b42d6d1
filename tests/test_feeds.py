"""Atom and RSS feeds of published versions, for all guides and per guide."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from guide.models import Guide
from tests.conftest import make_version
from tests.pages import text

ATOM = "{http://www.w3.org/2005/Atom}"


def parse_xml(data: bytes | str) -> ET.Element:
    return ET.fromstring(data)  # noqa: S314 - our own response, not untrusted input


@pytest.fixture
def mdtp(db) -> Guide:
    guide = Guide.objects.create(slug="mdtp", title="MDTP topic list", description="A slim list.")
    make_version(
        guide,
        "1.0.0",
        "# MDTP\n",
        published_at=datetime(2026, 7, 10, 9, tzinfo=UTC),
        bump="major",
        entries=[("added", "First version of the topic list.")],
    )
    return guide


def atom_entries(client, url: str) -> list[dict[str, str]]:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    root = parse_xml(response.content)
    assert root.tag == f"{ATOM}feed"
    return [
        {
            "title": entry.findtext(f"{ATOM}title"),
            "link": entry.find(f"{ATOM}link").get("href"),
            "id": entry.findtext(f"{ATOM}id"),
            "published": entry.findtext(f"{ATOM}published"),
            "summary": text(entry.findtext(f"{ATOM}summary")),
            "summary_html": entry.findtext(f"{ATOM}summary"),
        }
        for entry in root.findall(f"{ATOM}entry")
    ]


def rss_items(client, url: str) -> tuple[ET.Element, list[dict[str, str]]]:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/rss+xml; charset=utf-8"
    channel = parse_xml(response.content).find("channel")
    items = [
        {
            "title": item.findtext("title"),
            "link": item.findtext("link"),
            "guid": item.findtext("guid"),
            "description": text(item.findtext("description")),
            "pubDate": item.findtext("pubDate"),
        }
        for item in channel.findall("item")
    ]
    return channel, items


def test_the_atom_feed_lists_published_versions_newest_first(client, draft, mdtp):
    entries = atom_entries(client, "/feeds/releases.atom")

    assert [e["title"] for e in entries] == [
        "The MLMW guide 0.10.0: Release 0.10.0",
        "MDTP topic list 1.0.0: Release 1.0.0",
        "The MLMW guide 0.9.0: Release 0.9.0",
    ]
    assert [e["link"] for e in entries] == [
        "http://testserver/guides/mlmw/0.10.0/",
        "http://testserver/guides/mdtp/1.0.0/",
        "http://testserver/guides/mlmw/0.9.0/",
    ]
    assert entries[0]["id"] == "tag:mlmw,2026:mlmw/0.10.0"
    assert entries[0]["published"] == "2026-09-15T09:00:00+00:00"


def test_an_atom_entry_carries_the_changelog_of_its_version(client, v0_10_0):
    newest = atom_entries(client, "/feeds/releases.atom")[0]

    assert newest["summary"].startswith("The MLMW guide 0.10.0 (minor release): Release 0.10.0")
    for entry in [
        "ISLP in the beginner track.",
        "An Interviews section.",
        "Retitled the Bishop link.",
        "Theano, no longer maintained.",
    ]:
        assert entry in newest["summary"]
    assert '<a href="https://www.statlearning.com/"' in newest["summary_html"]


def test_the_rss_feed_has_the_same_items_with_absolute_links(client, draft, mdtp):
    channel, items = rss_items(client, "/feeds/releases.rss")

    assert channel.findtext("title") == "MLMW guide releases"
    assert channel.findtext("link") == "http://testserver/changelog/"
    assert [i["title"] for i in items] == [
        "The MLMW guide 0.10.0: Release 0.10.0",
        "MDTP topic list 1.0.0: Release 1.0.0",
        "The MLMW guide 0.9.0: Release 0.9.0",
    ]
    assert all(i["link"].startswith("http://testserver/guides/") for i in items)
    assert items[0]["guid"] == "tag:mlmw,2026:mlmw/0.10.0"
    assert items[0]["pubDate"] == "Tue, 15 Sep 2026 09:00:00 +0000"
    assert "Theano, no longer maintained." in items[0]["description"]
    assert "First version of the topic list." in items[1]["description"]


@pytest.mark.parametrize(
    "url", ["/feeds/releases.atom", "/feeds/releases.rss", "/guides/mlmw/releases.rss"]
)
def test_drafts_never_appear_in_a_feed(client, draft, url):
    body = client.get(url).content

    assert b"0.10.1" not in body
    assert b"Python packages" not in body


def test_a_guides_feed_has_only_that_guides_versions(client, v0_10_0, mdtp):
    entries = atom_entries(client, "/guides/mlmw/releases.atom")
    channel, items = rss_items(client, "/guides/mdtp/releases.rss")

    assert [e["title"] for e in entries] == [
        "The MLMW guide 0.10.0: Release 0.10.0",
        "The MLMW guide 0.9.0: Release 0.9.0",
    ]
    assert channel.findtext("title") == "MDTP topic list releases"
    assert channel.findtext("description") == "A slim list."
    assert channel.findtext("link") == "http://testserver/guides/mdtp/changelog/"
    assert [i["title"] for i in items] == ["MDTP topic list 1.0.0: Release 1.0.0"]


@pytest.mark.parametrize("url", ["/guides/nope/releases.atom", "/guides/nope/releases.rss"])
def test_the_feed_of_an_unknown_guide_is_not_found(client, v0_10_0, url):
    response = client.get(url)

    assert response.status_code == 404
    assert b"<feed" not in response.content and b"<rss" not in response.content


def test_markup_in_a_changelog_entry_stays_inert_in_the_feed(client, v0_10_0):
    make_version(
        v0_10_0.guide,
        "0.11.0",
        "# x\n",
        published_at=datetime(2026, 10, 1, tzinfo=UTC),
        bump="minor",
        entries=[("added", "<img src=x onerror=alert(1)> and [y](javascript:alert(2))")],
    )

    summary_html = atom_entries(client, "/feeds/releases.atom")[0]["summary_html"]

    assert "<img" not in summary_html
    assert "&lt;img src=x onerror=alert(1)&gt;" in summary_html
    assert 'href="javascript' not in summary_html
