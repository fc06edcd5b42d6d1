"""What a newcomer finds on every page: a Subscribe button in the header, feeds explained on a page
rather than raw XML, the guide text first, and a banner on an old version's page."""

from __future__ import annotations

import pytest

from guide.publishing import publish
from tests.pages import hrefs, text

PAGES = ["/", "/changelog/", "/feeds/", "/guides/mlmw/", "/guides/mlmw/0.9.0/"]


@pytest.mark.parametrize("url", PAGES)
def test_every_page_has_a_subscribe_button_in_its_header(client, v0_10_0, url):
    response = client.get(url)

    assert response.status_code == 200
    header = response.content.decode().split("</header>")[0]
    assert 'class="button header-subscribe" href="/subscribe/"' in header
    assert ">Subscribe</a>" in header


def test_the_feeds_link_opens_a_page_that_explains_feeds_and_lists_each_one(client, v0_10_0):
    home = client.get("/")
    assert "/feeds/" in hrefs(home)

    response = client.get("/feeds/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "feed reader" in text(response)
    assert {
        "/feeds/releases.atom",
        "/feeds/releases.rss",
        "/guides/mlmw/releases.atom",
        "/guides/mlmw/releases.rss",
    } <= set(hrefs(response))


def test_the_guide_page_shows_the_guide_text_before_the_subscribe_form(client, v0_10_0):
    page = client.get("/guides/mlmw/").content.decode()

    assert page.index('class="guide-content"') < page.index('id="subscribe"')


def test_an_older_versions_page_says_a_newer_version_exists(client, v0_10_0):
    page = text(client.get("/guides/mlmw/0.9.0/"))

    assert "A newer version exists: 0.10.0" in page


def test_the_newest_versions_page_has_no_newer_version_banner(client, v0_10_0):
    assert "A newer version exists" not in text(client.get("/guides/mlmw/0.10.0/"))


def test_publishing_a_release_puts_the_banner_on_the_previous_one(client, v0_10_0, draft):
    publish(draft)

    assert f"A newer version exists: {draft.number}" in text(client.get("/guides/mlmw/0.10.0/"))


def test_each_guide_on_the_home_page_has_a_compact_form_that_subscribes_to_that_guide_only(
    client, v0_10_0, mdtp, post_committed, mailoutbox
):
    from subscriptions.models import Subscriber
    from tests.forms import page_forms

    home = client.get("/")
    compact = [f for f in page_forms(home) if f.fields.get("guides") == [str(mdtp.pk)]]
    assert len(compact) == 1
    form = compact[0]
    assert form.action == "/subscribe/"

    post_committed(client, form.action, form.data(email="reader@example.org"))

    subscriber = Subscriber.objects.get(email="reader@example.org")
    assert list(subscriber.guides.values_list("slug", flat=True)) == ["mdtp"]
    assert subscriber.status == "pending"
    assert len(mailoutbox) == 1
