"""The release mail stays under Gmail's clip whatever the catch-up: HTML at most 80 KB, the whole
message at most 100 KB, cut at whole items with a link to the rest, footer and unsubscribe kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.mail import EmailMultiAlternatives

from subscriptions import emails, release_mail
from tests.conftest import MLMW_0_9_0, make_subscribers, make_version

pytestmark = pytest.mark.django_db

SITE = "http://testserver"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE


def ten_thousand_links() -> str:
    """MLMW 0.9.0 plus 100 new sections of 100 links each."""
    sections = [
        f"## Topic {s}\n\n"
        + "\n".join(
            f"- [Resource {s}-{n} on a topic with a title]({f'https://example.org/{s}/{n}'}) "
            "with a note of a few words."
            for n in range(100)
        )
        for s in range(100)
    ]
    return MLMW_0_9_0 + "\n" + "\n\n".join(sections) + "\n"


@pytest.fixture
def catch_up_over_300_entries(guide):
    """0.9.0, then five releases of 20 entries and a last one of 300 that adds 10,000 links."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    since = make_version(guide, "0.9.0", MLMW_0_9_0, published_at=start, bump="major")
    for minor in range(1, 6):
        make_version(
            guide,
            f"0.9.{minor}",
            MLMW_0_9_0 + f"\n## Note {minor}\n\nA note.\n",
            published_at=start + timedelta(days=minor),
            bump="patch",
            entries=[
                ("fixed", f"Fix {minor}.{n}: a typo in a [link](https://x.org/{n}).")
                for n in range(20)
            ],
        )
    until = make_version(
        guide,
        "1.0.0",
        ten_thousand_links(),
        published_at=start + timedelta(days=30),
        bump="major",
        entries=[
            ("added", f"Entry {n} with [a link](https://example.org/e/{n}) and some words.")
            for n in range(300)
        ],
    )
    return since, until


def has_link(html: str, url: str, text: str) -> bool:
    return bool(re.search(f'<a href="{re.escape(url)}"[^>]*>{re.escape(text)}</a>', html))


def sent_message(variant: emails.RenderedMail, subscriber, version) -> EmailMultiAlternatives:
    """The message one reader gets: personal links filled in, list headers on."""
    links = emails.personal_links([subscriber])[0]
    return release_mail.personal_message(variant, links, subscriber.email)


def test_a_catch_up_over_300_entries_and_10000_new_links_fits_gmails_clip(
    guide, catch_up_over_300_entries
):
    since, until = catch_up_over_300_entries
    (reader,) = make_subscribers(guide, "reader", 1, baseline=since)

    message = sent_message(release_mail.render_markers(since, until), reader, until)
    [(html, _)] = message.alternatives

    assert len(html.encode()) <= 80_000
    assert len(message.message().as_bytes()) <= 100_000
    unsubscribe = emails.subscriber_links(reader)["unsubscribe_url"]
    assert re.search(f'<a href="{re.escape(unsubscribe)}"[^>]*>Unsubscribe</a>', html)
    assert f"Unsubscribe: {unsubscribe}" in message.body
    more = re.search(r'<a href="([^"]+)"[^>]*>(\d+) more changes: see them on the web</a>', html)
    assert more and more.group(1) == f"{SITE}/guides/mlmw/compare/0.9.0...1.0.0/"
    assert (
        f"more changes: see them on the web: {SITE}/guides/mlmw/compare/0.9.0...1.0.0/"
        in message.body
    )


def test_the_cut_mail_says_how_many_changelog_entries_and_releases_are_on_the_web(
    guide, catch_up_over_300_entries
):
    since, until = catch_up_over_300_entries

    variant = release_mail.render_markers(since, until)

    shown = variant.html.count("Entry ")
    assert 0 < shown < 300
    assert has_link(
        variant.html, f"{SITE}/guides/mlmw/1.0.0/", f"{300 - shown} more entries in the changelog"
    )
    assert variant.subject == "The MLMW guide 1.0.0: Release 1.0.0, and 5 earlier releases"
    for minor in range(1, 6):
        url = f"{SITE}/guides/mlmw/0.9.{minor}/"
        assert has_link(variant.html, url, f"0.9.{minor}: Release 0.9.{minor}")


def test_a_mail_that_fits_is_not_cut(v0_9_0, v0_10_0):
    variant = release_mail.render_markers(v0_9_0, v0_10_0)

    assert "more changes" not in variant.html and "more changes" not in variant.text
    assert "more entries" not in variant.html
