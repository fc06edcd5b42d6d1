"""A visitor requests the MDTP topic list, verifies from the mail, an editor approves it in the
admin, and the visitor downloads the file from the mailed link, in Chromium.

The mails leave the live server (tasks run in-process: no worker here) over SMTP to the local SMTP
server; the visitor opens the links as they arrived.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from access.models import AccessRequest, Download
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import TOPIC_LIST_BYTES
from tests.services import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_visitor_requests_the_topic_list_an_editor_approves_and_the_visitor_downloads_it(
    page: Page, site: str, smtp_server, topic_list, reviewing_editor
):
    # The guide page's table offers the topic list on request.
    page.goto(site + topic_list.guide.get_absolute_url())
    expect(page.get_by_role("heading", name="Get access and download")).to_be_visible()
    row = page.get_by_role("row", name=re.compile("MDTP topic list"))
    row.get_by_role("link", name="Request access").click()

    expect(page.get_by_role("heading", name="Request access: MDTP topic list")).to_be_visible()
    page.get_by_label("Email address").fill("reader@example.org")
    page.get_by_label("Name (optional)").fill("Rea")
    page.get_by_label("Why you would like it (optional)").fill("For my study group.")
    page.get_by_label("Tell me about new revisions of this artifact").check()
    page.get_by_role("button", name="Request access").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.get_by_text("Open the link in it to verify your request")).to_be_visible()

    [mail] = wait_for(lambda: smtp_server.to("reader@example.org"), what="the verification mail")
    assert mail.subject == "Verify your request for MDTP topic list"
    [link] = re.findall(re.escape(site) + r"/access/verify/[^\s]+/", mail.text)
    page.goto(link)
    expect(
        page.get_by_role("heading", name="Verify your request for MDTP topic list")
    ).to_be_visible()
    assert AccessRequest.objects.get().status == "unverified"  # opening the link changes nothing
    page.get_by_role("button", name="Verify my request").click()
    expect(page.get_by_role("heading", name="Thank you, your request is verified")).to_be_visible()

    # The editor approves it in the admin, with a message.
    page.goto(site + "/admin/")
    page.get_by_label("Username").fill("edna")
    page.get_by_label("Password").fill("edna-password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Access requests").click()
    request_row = page.get_by_role("row", name=re.compile("reader@example.org"))
    expect(request_row).to_contain_text("Waiting for review")
    request_row.get_by_role("checkbox").check()
    page.get_by_label("Action:").select_option(
        label="Approve selected requests (mails each a personal link)"
    )
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text("Approve 1 request?")).to_be_visible()
    page.get_by_label("Message:").fill("Happy reading!")
    page.get_by_role("button", name="Yes, approve").click()
    expect(page.get_by_text("Approved 1 request(s).")).to_be_visible()

    grant_mail = wait_for(
        lambda: [m for m in smtp_server.to("reader@example.org") if "download link" in m.subject],
        what="the mail with the personal link",
    )[0]
    assert "Happy reading!" in grant_mail.text
    [download_link] = re.findall(re.escape(site) + r"/access/[A-Za-z0-9_-]+/", grant_mail.text)

    # The visitor opens the mailed link: a page says what the file is and how many downloads are
    # left (opening it counts nothing); its button downloads the file, and the count moves by one.
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 844})
        page.goto(download_link)
        expect(page.get_by_role("heading", name="MDTP topic list")).to_be_visible()
        expect(page.locator("#downloads-left")).to_have_text("20 of 20")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"personal-link-{width}.png", full_page=True)
    assert not Download.objects.exists()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == "mdtp-topic-list.md"
    assert download.path().read_bytes() == TOPIC_LIST_BYTES
    page.reload()
    expect(page.locator("#downloads-left")).to_have_text("19 of 20")
    # A resumed download (the browser asks for the rest of the file) does not count again.
    resumed = page.request.get(download_link + "file/", headers={"Range": "bytes=100-"})
    assert resumed.status == 206
    assert resumed.body() == TOPIC_LIST_BYTES[100:]
    page.reload()
    expect(page.locator("#downloads-left")).to_have_text("19 of 20")
    logged = Download.objects.get()
    assert logged.user_agent.startswith("Mozilla/5.0")
