"""A newcomer on the public site, in Chromium at a phone's width (390 px) and a laptop's (1280 px):
subscribing from the header of a guide page, and searching for a link title to land on its section.
Screenshots of each page at both widths are kept in var/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from guide import search
from subscriptions.models import Subscriber
from tests.browser.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [390, 1280]


def shot(page: Page, name: str, width: int) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_visitor_subscribes_from_the_header_of_a_guide_page(
    page: Page, site: str, v0_10_0, width: int
):
    page.set_viewport_size({"width": width, "height": 844})
    page.goto(site + "/guides/mlmw/")
    header_button = page.locator("header").get_by_role("link", name="Subscribe")
    expect(header_button).to_be_in_viewport()
    no_sideways_scroll(page)
    shot(page, "guide-page", width)

    header_button.click()
    expect(page.get_by_role("heading", name="Subscribe for guide updates")).to_be_visible()
    no_sideways_scroll(page)
    shot(page, "subscribe-page", width)
    page.get_by_label("Email address").fill(f"reader-{width}@example.org")
    page.get_by_label("The MLMW guide").check()
    page.locator("main").get_by_role("button", name="Subscribe").click()

    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    subscriber = Subscriber.objects.get(email=f"reader-{width}@example.org")
    assert subscriber.status == "pending"
    assert [g.slug for g in subscriber.guides.all()] == ["mlmw"]


@pytest.mark.parametrize("width", WIDTHS)
def test_a_reader_searches_for_a_link_title_and_lands_on_its_section(
    page: Page, site: str, v0_10_0, width: int
):
    search.reindex(v0_10_0.guide)
    page.set_viewport_size({"width": width, "height": 844})
    page.goto(site + "/")

    box = page.locator("header").get_by_placeholder("Search the guides")
    box.fill("pattern recognition")
    box.press("Enter")
    expect(page.get_by_role("heading", name="Search the guides")).to_be_visible()
    result = page.get_by_role("link", name="Reference texts")
    expect(result).to_be_visible()
    no_sideways_scroll(page)
    shot(page, "search-results", width)

    result.click()
    expect(page).to_have_url(site + "/guides/mlmw/#reference-texts")
    expect(page.locator("#reference-texts")).to_be_in_viewport()
    shot(page, "search-landing", width)
