"""The release mail as a phone and a desktop mail client show it, in Chromium: nothing wider than
the screen, and the first screen of a phone holds the release title and both buttons.

Screenshots of every width are kept in var/test-artifacts/ (ignored by git), pass or fail, so the
mail can be looked at after any run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page

from subscriptions import release_mail
from tests.conftest import MLMW_0_10_1, ROOT, make_version

ARTIFACTS = ROOT / "var" / "test-artifacts"
LONG_URL = (
    "https://www.microsoft.com/en-us/research/uploads/prod/2006/01/"
    "Bishop-Pattern-Recognition-and-Machine-Learning-2006-with-a-very-long-file-name.pdf"
)


@pytest.fixture
def release_mail_html(v0_9_0, v0_10_0, settings) -> str:
    """A catch-up (0.9.0 → 0.11.0, two releases) with a long title, a new section and a link whose
    address is one long unbreakable word; personal links filled in as a reader gets them."""
    settings.SITE_URL = "https://mlmw.example"
    content = MLMW_0_10_1.replace(
        "https://www.microsoft.com/en-us/research/people/cmbishop/prml-book/", LONG_URL
    )
    newer = make_version(
        v0_10_0.guide,
        "0.11.0",
        content,
        published_at=datetime(2026, 11, 1, tzinfo=UTC),
        bump="minor",
        entries=[
            (
                "added",
                "A *Python packages* section with [scikit-learn](https://scikit-learn.org/).",
            ),
            ("changed", f"The Bishop (2006) link points at the [PDF]({LONG_URL})."),
        ],
    )
    newer.title = "Python packages, and the Bishop book as a PDF you can keep"
    newer.save()
    variant = release_mail.render_markers(v0_9_0, newer)
    personal = {
        name: f"https://mlmw.example/{name}/0123456789abcdef0123456789abcdef:token/"
        for name in release_mail.PERSONAL_FIELDS
    }
    return release_mail.fill(variant, personal).html


@pytest.mark.parametrize(("width", "height"), [(375, 667), (600, 900)])
def test_the_release_mail_fits_the_screen_and_opens_with_the_title_and_both_buttons(
    page: Page, release_mail_html: str, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.set_content(release_mail_html)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"release-mail-{width}.png", full_page=True)

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    title = page.get_by_role("heading", level=1)
    assert title.inner_text() == "Python packages, and the Bishop book as a PDF you can keep"
    for element in (
        title,
        page.get_by_role("link", name="See what changed"),
        page.get_by_role("link", name="Read the guide"),
    ):
        box = element.bounding_box()
        assert box is not None and box["width"] > 0
        assert box["y"] + box["height"] <= height, f"{element} is below the first screen"
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
