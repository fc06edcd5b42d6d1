"""The admin as an admin sees it at 1280 px, in Chromium: the service's own name, the dashboard's
charts, and change lists whose every column is in view beside the filters (none pushed off to the
right)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from guide.publishing import publish
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import make_subscribers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHANGE_LISTS = [
    "/admin/subscriptions/subscriber/",
    "/admin/subscriptions/mailing/",
    "/admin/subscriptions/delivery/",
]


def test_an_admin_sees_the_mlmw_name_and_every_column_of_each_list_at_1280_px(
    page: Page, site: str, list_admin, draft
):
    make_subscribers(
        draft.guide, "a-rather-long-local-part-for-a-reader", 3, baseline=draft.previous()
    )
    publish(draft)  # a mailing and its deliveries to list
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(site + "/admin/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("ada-password")
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_title("Guides, subscribers and deliveries | MLMW admin")
    expect(page.locator("#site-name")).to_have_text("MLMW admin")
    # The dashboard: four charts drawn in the page, nothing refused by its policy.
    refused = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.reload()
    charts = page.locator(".dashboard-charts svg")
    expect(charts).to_have_count(4)
    for index in range(4):
        expect(charts.nth(index)).to_be_visible()
    assert charts.first.bounding_box()["width"] > 300
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "admin-dashboard-1280.png", full_page=True)
    assert refused == []
    for path in CHANGE_LISTS:
        page.goto(site + path)
        table = page.locator("#result_list")
        expect(table).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"admin{path.replace('/', '-').rstrip('-')}-1280.png")
        widths = table.evaluate(
            "t => ({table: t.scrollWidth, box: t.closest('.results').clientWidth})"
        )
        assert widths["table"] <= widths["box"], f"{path}: columns hidden ({widths})"
        last_header = table.locator("thead th").last
        assert last_header.bounding_box()["x"] + last_header.bounding_box()["width"] <= 1280


def test_an_admin_reads_the_dashboard_on_a_phone(page: Page, site: str, list_admin, guide):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(site + "/admin/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("ada-password")
    page.get_by_role("button", name="Log in").click()

    charts = page.locator(".dashboard-charts svg")
    expect(charts).to_have_count(4)
    for index in range(4):
        box = charts.nth(index).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, "a chart wider than the phone"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "admin-dashboard-390.png", full_page=True)
