"""The public pages: what a reader sees of each guide, its versions, changelogs and changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guide.models import Guide, Version
from tests.conftest import make_version
from tests.forms import page_form
from tests.pages import hrefs, links, text

ENTRIES_0_10_0 = [
    "ISLP in the beginner track.",
    "An Interviews section.",
    "Retitled the Bishop link.",
    "Theano, no longer maintained.",
]
DRAFT_ENTRY = "A Python packages section with scikit-learn."


@pytest.fixture
def mdtp(db) -> Guide:
    guide = Guide.objects.create(slug="mdtp", title="MDTP topic list", description="A slim list.")
    make_version(
        guide,
        "1.0.0",
        "# MDTP\n\n## Models\n\n- [LoRA](https://arxiv.org/abs/2106.09685)\n",
        published_at=datetime(2026, 7, 10, 9, tzinfo=UTC),
        bump="major",
        entries=[("added", "First version of the topic list.")],
    )
    return guide


def get_ok(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert response["Content-Type"] == "text/html; charset=utf-8"
    return response


# --- Home -----------------------------------------------------------------------------------------


def test_home_shows_each_guides_latest_number_date_and_changelog(client, draft, mdtp):
    page = text(get_ok(client, "/"))

    assert "The MLMW guide" in page and "MDTP topic list" in page
    assert "Latest: 0.10.0 · Release 0.10.0 · 15 Sep 2026" in page
    assert "Latest: 1.0.0 · Release 1.0.0 · 10 Jul 2026" in page
    for entry in ENTRIES_0_10_0:
        assert entry in page
    assert "First version of the topic list." in page
    # Neither the draft nor an older release is presented as news.
    assert "0.10.1" not in page
    assert DRAFT_ENTRY not in page
    assert "First public version with the beginner track." not in page


def test_home_links_to_each_guide_its_latest_version_and_its_channels(client, v0_10_0):
    page_links = links(get_ok(client, "/"))

    assert ("The MLMW guide", "/guides/mlmw/") in page_links
    assert ("0.10.0", "/guides/mlmw/0.10.0/") in page_links
    assert ("Telegram group", "https://t.me/mlmw_guide") in page_links
    assert ("Reddit community", "https://www.reddit.com/r/mlmw/") in page_links


def test_home_says_when_a_guide_has_no_release_yet(client, guide):
    make_version(guide, "0.1.0", "# Draft only\n")

    page = text(get_ok(client, "/"))

    assert "No release published yet." in page
    assert "0.1.0" not in page


# --- Changelogs -----------------------------------------------------------------------------------


def test_the_changelog_lists_published_versions_newest_first_with_entries(client, draft, mdtp):
    page = text(get_ok(client, "/changelog/"))

    order = [
        page.index(s)
        for s in ("The MLMW guide 0.10.0", "MDTP topic list 1.0.0", "The MLMW guide 0.9.0")
    ]
    assert order == sorted(order)
    assert "15 Sep 2026 · Minor release" in page
    assert "1 Jun 2026 · Major release" in page
    for entry in [*ENTRIES_0_10_0, "First public version with the beginner track."]:
        assert entry in page
    assert "0.10.1" not in page
    assert DRAFT_ENTRY not in page


def test_the_changelog_groups_entries_by_kind_in_keep_a_changelog_order(client, v0_10_0):
    page = text(get_ok(client, "/changelog/"))

    section = page[page.index("The MLMW guide 0.10.0") : page.index("The MLMW guide 0.9.0")]
    assert section.index("Added") < section.index("Changed") < section.index("Removed")
    assert section.index("Retitled the Bishop link.") < section.index(
        "Theano, no longer maintained."
    )


def test_a_guides_changelog_lists_only_that_guides_versions(client, draft, mdtp):
    response = get_ok(client, "/guides/mlmw/changelog/")
    page = text(response)

    assert "Changelog of The MLMW guide" in page
    assert page.index("0.10.0 Release 0.10.0") < page.index("0.9.0 Release 0.9.0")
    assert "First version of the topic list." not in page
    assert DRAFT_ENTRY not in page
    assert "/guides/mlmw/releases.atom" in hrefs(response)


def test_a_changelog_with_nothing_published_says_so(client, guide):
    assert "Nothing published yet." in text(get_ok(client, "/guides/mlmw/changelog/"))


# --- Guide and version pages ----------------------------------------------------------------------


def test_the_guide_page_renders_the_latest_published_content(client, draft):
    response = get_ok(client, "/guides/mlmw/")
    page = text(response)

    assert "Release 0.10.0, published 15 Sep 2026" in page
    assert "The MLMW guide 0.10.0 is the latest of 2 published versions." in page
    assert "Interviews" in page and "Diffusion feels like it shouldn't work." in page
    assert b'<h2 id="interviews">Interviews</h2>' in response.content
    assert ("ISLP", "https://www.statlearning.com/") in links(response)
    assert (
        "Bishop (2006), Pattern Recognition and Machine Learning",
        "https://www.microsoft.com/en-us/research/people/cmbishop/prml-book/",
    ) in links(response)
    assert ("What changed in 0.10.0", "/guides/mlmw/compare/0.9.0...0.10.0/") in links(response)
    # Not the draft's content, not the old version's.
    assert "scikit-learn" not in page
    assert "Theano" not in page


def test_the_guide_page_of_an_unreleased_guide_says_so(client, guide):
    make_version(guide, "0.1.0", "# Secret draft\n")

    page = text(get_ok(client, "/guides/mlmw/"))

    assert "No version of this guide is published yet." in page
    assert "Secret draft" not in page


def test_a_version_page_renders_that_versions_content_and_changelog(client, v0_10_0):
    response = get_ok(client, "/guides/mlmw/0.9.0/")
    page = text(response)

    assert "The MLMW guide 0.9.0 Release 0.9.0" in page
    assert "Published 1 Jun 2026 · Major release" in page
    assert "First public version with the beginner track." in page
    assert ("Theano", "https://github.com/Theano/Theano") in links(response)
    assert "Interviews" not in page
    assert "Changes since" not in page  # the first version follows nothing


def test_a_version_page_links_to_the_changes_since_the_previous_version(client, v0_10_0):
    response = get_ok(client, "/guides/mlmw/0.10.0/")

    assert ("Changes since 0.9.0", "/guides/mlmw/compare/0.9.0...0.10.0/") in links(response)
    assert "Published 15 Sep 2026 · Minor release" in text(response)
    for entry in ENTRIES_0_10_0:
        assert entry in text(response)


# --- Compare --------------------------------------------------------------------------------------


def test_the_compare_page_shows_the_diff_and_the_changelog_of_the_releases_in_range(client, draft):
    response = get_ok(client, "/guides/mlmw/compare/0.9.0...0.10.0/")
    page = text(response)
    page_links = links(response)

    assert "The MLMW guide: 0.9.0 → 0.10.0" in page
    assert (
        "1 section added, 1 new link, 1 paragraph edited, 1 link retitled, 1 link removed" in page
    )
    assert "New Interviews" in page  # a new section, under its heading path
    assert ("ISLP", "https://www.statlearning.com/") in page_links
    assert "Removed Theano" in page  # struck in its removed paragraph, and no longer a link
    assert "https://github.com/Theano/Theano" not in [href for _, href in page_links]
    assert "Bishop (2006) → Bishop (2006), Pattern Recognition and Machine Learning" in page
    for entry in ENTRIES_0_10_0:
        assert entry in page
    # The range is (0.9.0, 0.10.0]: neither the older end's entries nor the draft's.
    assert "First public version with the beginner track." not in page
    assert DRAFT_ENTRY not in page


def test_the_compare_page_across_several_releases_lists_each_releases_entries(client, draft):
    from guide.publishing import publish

    publish(draft)
    response = get_ok(client, "/guides/mlmw/compare/0.9.0...0.10.1/")
    page = text(response)

    assert page.index("0.10.1 Release 0.10.1") < page.index("0.10.0 Release 0.10.0")
    assert DRAFT_ENTRY in page
    for entry in ENTRIES_0_10_0:
        assert entry in page
    assert "2 sections added, 2 new links, 1 paragraph edited" in page


def test_the_compare_page_in_reverse_order_redirects_to_the_canonical_address(client, v0_10_0):
    response = client.get("/guides/mlmw/compare/0.10.0...0.9.0/")

    assert response.status_code == 302
    assert response["Location"] == "/guides/mlmw/compare/0.9.0...0.10.0/"


def test_the_compare_form_redirects_to_the_compare_page(client, v0_10_0):
    response = client.get("/guides/mlmw/compare/", {"from": "0.9.0", "to": "0.10.0"})

    assert response.status_code == 302
    assert response["Location"] == "/guides/mlmw/compare/0.9.0...0.10.0/"
    assert "1 section added" in text(client.get(response["Location"]))


def test_the_compare_address_without_versions_is_a_page_to_pick_them(client, v0_10_0):
    response = client.get("/guides/mlmw/compare/")

    assert response.status_code == 200
    page = text(response)
    assert "Compare two versions of" in page
    form = page_form(response, "/guides/mlmw/compare/")
    assert form.fields["from"] == ["0.9.0"]
    assert form.fields["to"] == ["0.10.0"]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"from": "", "to": ""}, "Pick two versions from the lists."),
        ({"from": "0.9.0", "to": "latest"}, "Pick two versions from the lists."),
        ({"from": "0.9.0", "to": "9.9.9"}, "Pick two published versions from the lists."),
        ({"from": "0.9.0", "to": "0.9.0"}, "Pick two different versions."),
    ],
)
def test_a_bad_pick_of_versions_shows_the_picker_again_with_the_reason(
    client, v0_10_0, query, error
):
    response = client.get("/guides/mlmw/compare/", query)

    assert response.status_code == 400
    assert "Location" not in response
    assert error in text(response)


def test_the_compare_picker_of_a_guide_with_one_version_says_there_is_nothing_to_compare(
    client, v0_9_0
):
    response = client.get("/guides/mlmw/compare/")

    assert response.status_code == 200
    assert "Only one version of this guide is published (0.9.0)" in text(response)


# --- Not found ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/guides/mlmw/0.10.1/",
        "/guides/mlmw/compare/0.10.0...0.10.1/",
        "/guides/mlmw/compare/0.10.1...0.10.0/",
        "/guides/mlmw/2.0.0/",
        "/guides/mlmw/compare/0.9.0...2.0.0/",
    ],
)
def test_a_draft_or_unknown_number_is_not_found(client, draft, url):
    response = client.get(url)

    assert response.status_code == 404
    assert b"Python packages" not in response.content


@pytest.mark.parametrize(
    "url",
    [
        "/guides/mlmw/01.0.0/",
        "/guides/mlmw/0.09.0/",
        "/guides/mlmw/compare/0.9.0...00.10.0/",
        "/guides/mlmw/compare/0.9.0...0.1o.0/",
    ],
)
def test_a_malformed_number_in_the_address_is_not_found_rather_than_a_server_error(
    client, v0_10_0, url
):
    response = client.get(url)

    assert response.status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/guides/nope/",
        "/guides/nope/changelog/",
        "/guides/nope/0.9.0/",
        "/guides/nope/compare/0.9.0...0.10.0/",
        "/guides/nope/compare/?from=0.9.0&to=0.10.0",
    ],
)
def test_an_unknown_guide_is_not_found(client, v0_10_0, url):
    response = client.get(url)

    assert response.status_code == 404
    assert b"The MLMW guide" not in response.content


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_public_pages_only_answer_safe_methods(client, v0_10_0, method):
    response = getattr(client, method)("/guides/mlmw/")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


# --- Sanitising -----------------------------------------------------------------------------------

HOSTILE_CONTENT = """# The MLMW guide

Notes on machine learning, with links.

<script>alert(1)</script>

A [x](javascript:alert(1)) link and an <img src=x onerror=alert(2)> image.

## Beginner track

Start with [MML](https://mml-book.github.io/) for the maths.
"""


@pytest.fixture
def hostile(v0_10_0: Version) -> Version:
    return make_version(
        v0_10_0.guide,
        "0.11.0",
        HOSTILE_CONTENT,
        published_at=datetime(2026, 10, 1, 9, tzinfo=UTC),
        bump="minor",
        entries=[
            ("added", "<img src=x onerror=alert(3)> and [y](javascript:alert(4))"),
            ("fixed", "<script>alert(5)</script>"),
        ],
    )


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/changelog/",
        "/guides/mlmw/",
        "/guides/mlmw/changelog/",
        "/guides/mlmw/0.11.0/",
        "/guides/mlmw/compare/0.10.0...0.11.0/",
    ],
)
def test_markup_in_content_or_changelog_is_never_live(client, hostile, url):
    response = get_ok(client, url)
    body = response.content.lower()

    assert b"<script" not in body
    assert b"javascript:" not in b"".join(h.lower().encode() for h in hrefs(response))
    assert b'href="javascript' not in body
    assert b"<img src=x" not in body
    assert b"onerror=" not in body.replace(b"&lt;img src=x onerror=", b"")


def test_the_hostile_version_page_shows_the_markup_as_text(client, hostile):
    page = text(get_ok(client, "/guides/mlmw/0.11.0/"))

    assert "<script>alert(1)</script>" in page
    assert "<img src=x onerror=alert(3)>" in page
    assert "[x](javascript:alert(1))" in page
    assert b"&lt;img src=x onerror=alert(3)&gt;" in client.get("/changelog/").content


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/changelog/",
        "/guides/mlmw/",
        "/guides/mlmw/changelog/",
        "/guides/mlmw/0.9.0/",
        "/guides/mlmw/0.10.0/",
        "/guides/mlmw/compare/0.9.0...0.10.0/",
    ],
)
def test_pages_are_server_rendered_without_any_script(client, v0_10_0, url):
    response = get_ok(client, url)

    assert b"<script" not in response.content.lower()
    assert b"<h1" in response.content
