"""The compare page shows the diff exactly as the release mail does, plus what only a page can
have: an anchor per section, "Next change" links that work without JavaScript, and each changed
section as it reads now, collapsed. No inline style or script (the site's CSP forbids them)."""

from __future__ import annotations

import html as html_module
import re
from datetime import UTC, datetime

import pytest

from subscriptions import release_mail
from tests.conftest import MLMW_0_10_0, make_version
from tests.pages import links, text

pytestmark = pytest.mark.django_db

URL = "/guides/mlmw/compare/0.10.0...0.11.0/"
SECTION_ID = re.compile(r'<div class="diff-section [^"]*" id="([^"]+)"')


@pytest.fixture
def v0_11_0(v0_10_0):
    content = (
        MLMW_0_10_0.replace("then [ISLP]", "then the [ISLP book]")
        .replace(
            "## Interviews",
            "## Python packages\n\n- [scikit-learn](https://scikit-learn.org/)\n\n## Interviews",
        )
        .replace(
            "Diffusion feels like it shouldn't work.",
            "Diffusion still feels like it shouldn't work.",
        )
    )
    return make_version(
        v0_10_0.guide,
        "0.11.0",
        content,
        published_at=datetime(2026, 10, 1, tzinfo=UTC),
        bump="minor",
    )


def page_html(client) -> str:
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


def test_each_changed_section_has_an_anchor_and_a_next_change_link_to_the_following_one(
    client, v0_11_0
):
    html = page_html(client)

    ids = SECTION_ID.findall(html)
    assert len(ids) >= 3 and len(set(ids)) == len(ids)
    nav = [
        href
        for label, href in links(html)
        if label.startswith(("Next change", "Back to the first change"))
    ]
    assert nav == [f"#{i}" for i in ids[1:]] + ["#changes"]
    assert ("Jump to the changes", "#changes") in links(html)


def test_a_changed_section_shows_its_current_text_collapsed(client, v0_11_0):
    html = page_html(client)

    details = re.findall(r'<details class="diff-context">(.*?)</details>', html, re.S)
    assert details and all(
        "<summary>The whole section as it reads now</summary>" in d for d in details
    )
    assert any(
        "Diffusion still feels like it shouldn" in d and "<blockquote>" in d for d in details
    )
    assert "<details open" not in html  # collapsed until the reader opens it


def test_the_page_and_the_mail_render_the_same_changes(client, v0_10_0, v0_11_0):
    html = page_html(client)
    mail = release_mail.render_markers(v0_10_0, v0_11_0).html

    def changes(markup: str) -> list[str]:
        markup = re.sub(r' style="[^"]*"', "", markup)  # the mail's inlined CSS
        markup = html_module.unescape(markup)  # the inliner writes entities its own way
        return re.findall(r'<(?:p|h3|li) class="diff-[^"]*">.*?</(?:p|h3|li)>', markup)

    assert SECTION_ID.findall(html) == SECTION_ID.findall(mail)
    assert [c for c in changes(html) if "diff-nav" not in c] == changes(mail)


def test_the_compare_page_has_no_inline_style_or_script(client, v0_11_0):
    html = page_html(client)

    assert " style=" not in html and "<style" not in html and "<script" not in html
    assert "Next change" in text(html)
