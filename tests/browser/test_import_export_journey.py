"""An admin imports subscribers from a CSV file in the admin, in Chromium: a file with a bad row is
refused whole with a report naming the row; the corrected file imports; the export downloads what is
stored, and imports back unchanged.
"""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Page, expect

from subscriptions.models import Subscriber
from tests.browser.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BAD_CSV = """email,guides,cadence
ann@example.org,mlmw,every
bob@example,mlmw,weekly
"""
GOOD_CSV = """email,guides,cadence
ann@example.org,mlmw,every
bob@example.org,mlmw,major
"""


def csv_file(text: str) -> dict:
    return {"name": "subscribers.csv", "mimeType": "text/csv", "buffer": text.encode()}


@pytest.mark.parametrize("width", [390, 1280])
def test_an_admin_imports_a_csv_with_a_bad_row_fixes_it_imports_and_exports(
    page: Page, site: str, list_admin, guide, width: int
):
    page.set_viewport_size({"width": width, "height": 844})
    page.goto(site + "/admin/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("ada-password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Subscribers", exact=True).click()
    expect(page.get_by_role("heading", name="Select subscriber to change")).to_be_visible()
    page.get_by_role("link", name="Import CSV").click()
    expect(page.get_by_role("heading", name="Import subscribers from CSV")).to_be_visible()

    # A bad row: the whole file is refused, the report names the line and why.
    page.get_by_label("CSV file").set_input_files(csv_file(BAD_CSV))
    page.get_by_label("These addresses consented").check()
    page.get_by_role("button", name="Import").click()
    expect(
        page.get_by_text("The file was not imported: 1 bad row. Nothing was changed.")
    ).to_be_visible()
    report = page.locator("#import-errors").get_by_role("listitem")
    expect(report).to_have_count(1)
    expect(report).to_contain_text("line 3: address 'bob@example'")
    expect(report).to_contain_text("cadence 'weekly': use every, minor or major")
    assert Subscriber.objects.count() == 0

    # The corrected file imports; the list shows the new subscribers.
    page.get_by_role("link", name="Upload a file again").click()
    page.get_by_label("CSV file").set_input_files(csv_file(GOOD_CSV))
    page.get_by_label("These addresses consented").check()
    page.get_by_role("button", name="Import").click()
    expect(
        page.get_by_text(
            "Imported subscribers.csv: 2 rows, 2 new subscribers (confirmed), "
            "0 merged into existing ones, 0 skipped as erased addresses."
        )
    ).to_be_visible()
    page.get_by_role("link", name="See the subscribers").click()
    expect(page.get_by_role("link", name="ann@example.org")).to_be_visible()
    expect(page.get_by_role("link", name="bob@example.org")).to_be_visible()
    assert sorted(Subscriber.objects.values_list("email", "status", "cadence")) == [
        ("ann@example.org", "confirmed", "every"),
        ("bob@example.org", "confirmed", "major"),
    ]

    # The export downloads what is stored, as CSV.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("mlmw-subscribers-")
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert sorted((r["email"], r["status"], r["cadence"], r["guides"]) for r in rows) == [
        ("ann@example.org", "confirmed", "every", "mlmw"),
        ("bob@example.org", "confirmed", "major", "mlmw"),
    ]
    assert {r["source"] for r in rows} == {"import"}

    # The export imports back as it is: the same two subscribers, its other columns read past.
    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(
        {"name": "export.csv", "mimeType": "text/csv", "buffer": download.path().read_bytes()}
    )
    page.get_by_label("These addresses consented").check()
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-result")).to_contain_text(
        "Imported export.csv: 2 rows, 0 new subscribers (confirmed), 2 merged into existing ones"
    )
    expect(page.locator("#import-result")).to_contain_text(
        "Columns read past (an import never sets them): status, created_at, confirmed_at, "
        "consent_at, source."
    )
    assert Subscriber.objects.count() == 2
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"import-export-back-{width}.png", full_page=True)
