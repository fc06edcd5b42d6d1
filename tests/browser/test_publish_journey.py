"""An editor writes a release in the admin, previews its diff and mail, publishes it, in Chromium; the
subscriber's mail arrives with the diff.

Publishing commits in the live server; its on-commit hook puts the mailing on the real Redis broker;
a real Celery worker process renders and sends the release mail over SMTP to the local SMTP server,
with links to the live server (its SITE_URL).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from guide.models import Version
from subscriptions.models import Mailing
from tests.conftest import MLMW_0_10_1, make_subscribers
from tests.services import wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]


def test_an_editor_previews_and_publishes_a_release_and_the_subscriber_gets_its_diff(
    page: Page, site: str, smtp_server, start_worker, editor, v0_10_0
):
    [reader] = make_subscribers(v0_10_0.guide, "reader", 1, baseline=v0_10_0)
    start_worker(
        TEST_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=smtp_server.host,
        EMAIL_PORT=str(smtp_server.port),
        SITE_URL=site,
    )

    page.goto(site + "/admin/")
    page.get_by_label("Username").fill("edna")
    page.get_by_label("Password").fill("edna-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Guides, subscribers and deliveries")).to_be_visible()

    page.get_by_role("row", name="Versions").get_by_role("link", name="Add").click()
    expect(page.get_by_role("heading", name="Add version")).to_be_visible()
    page.get_by_label("Guide:").select_option(label="The MLMW guide")
    page.get_by_label("Number:").fill("0.11.0")
    page.get_by_label("Title:").fill("Python packages")
    page.get_by_label("Content:").fill(MLMW_0_10_1)
    # Django's tabular inline gives its cells no labels: the fields are found by their form names.
    page.locator('[name="entries-0-kind"]').select_option(label="Added")
    page.locator('[name="entries-0-text"]').fill("A *Python packages* section with scikit-learn.")
    page.get_by_role("button", name="Add another Changelog entry").click()
    page.locator('[name="entries-1-kind"]').select_option(label="Changed")
    page.locator('[name="entries-1-order"]').fill("1")
    page.locator('[name="entries-1-text"]').fill("The interviews now come last.")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.get_by_text("was added successfully")).to_be_visible()

    # The preview: the diff against 0.10.0, the changelog, and the release mail as it will go out.
    page.get_by_role("link", name="Preview diff").click()
    expect(
        page.get_by_role("heading", name="The MLMW guide 0.11.0: Python packages")
    ).to_be_visible()
    expect(
        page.get_by_text("Compared with the latest published version before it, 0.10.0")
    ).to_be_visible()
    expect(page.get_by_text("1 section added, 1 new link").first).to_be_visible()
    expect(
        page.get_by_role("listitem").filter(has_text="section with scikit-learn.")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="New The MLMW guide › Python packages")).to_be_visible()
    expect(page.get_by_role("link", name="scikit-learn", exact=True)).to_have_attribute(
        "href", "https://scikit-learn.org/"
    )
    expect(page.get_by_role("heading", name="Release mail")).to_be_visible()
    expect(page.get_by_text("Subject: The MLMW guide 0.11.0: Python packages")).to_be_visible()
    mail_html = page.frame_locator("iframe[title='HTML part of the release mail']")
    expect(mail_html.get_by_role("link", name="scikit-learn")).to_be_visible()
    expect(page.locator("pre.email-text")).to_contain_text(
        "scikit-learn <https://scikit-learn.org/>"
    )

    page.get_by_role("button", name="Publish 0.11.0 now").click()
    expect(page.get_by_text("Published mlmw 0.11.0 (minor release).")).to_be_visible()
    version = Version.objects.get(number="0.11.0")
    assert version.status == Version.Status.PUBLISHED
    assert list(version.entries.values_list("kind", "text")) == [
        ("added", "A *Python packages* section with scikit-learn."),
        ("changed", "The interviews now come last."),
    ]

    # The worker mails the subscriber the change since 0.10.0, the version they were last mailed.
    [mail] = wait_for(
        lambda: smtp_server.to(reader.email), timeout=90, what="the release mail to the subscriber"
    )
    assert mail.subject == "The MLMW guide 0.11.0: Python packages"
    text = mail.text.replace("\r\n", "\n")
    assert text.startswith("1 section added, 1 new link since 0.10.0\n")  # the preheader
    assert (
        "Since 0.10.0, the last version you heard about from us: 1 section added, 1 new link."
        in text
    )
    assert "- A Python packages section with scikit-learn.\n" in text
    assert "## New section: The MLMW guide › Python packages\n" in text
    assert text.count("scikit-learn <https://scikit-learn.org/>") == 1
    assert '<a href="https://scikit-learn.org/"' in mail.html
    assert f"See what changed: {site}/guides/mlmw/compare/0.10.0...0.11.0/\n" in text
    assert f"Read the guide: {site}/guides/mlmw/0.11.0/\n" in text
    assert Mailing.objects.get(version=version).audience_size == 1

    # The mail's link opens the release on the site.
    page.goto(f"{site}/guides/mlmw/0.11.0/")
    expect(page.get_by_role("link", name="scikit-learn").first).to_be_visible()
