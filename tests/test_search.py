"""Search over the guides: a word of a link title finds its section and leads to it on the guide page;
changelog entries are found; the index follows each publish; any input is a query, never syntax."""

from __future__ import annotations

import pytest

from guide import search
from guide.publishing import publish
from tests.pages import links, text


@pytest.fixture
def indexed(v0_10_0):
    search.reindex(v0_10_0.guide)
    return v0_10_0


def test_a_word_of_a_link_title_finds_its_section_and_the_hit_leads_to_that_section(
    client, indexed
):
    response = client.get("/search/", {"q": "pattern recognition"})

    assert response.status_code == 200
    assert ("Reference texts", "/guides/mlmw/#reference-texts") in links(response)
    assert "<mark>Pattern</mark> <mark>Recognition</mark>" in response.content.decode()
    guide_page = client.get("/guides/mlmw/").content.decode()
    assert 'id="reference-texts"' in guide_page


def test_words_are_matched_by_their_stem(client, indexed):
    assert ("Interviews", "/guides/mlmw/#interviews") in links(
        client.get("/search/", {"q": "diffusion feel"})
    )


def test_a_changelog_entry_is_found_and_leads_to_its_version(client, indexed):
    response = client.get("/search/", {"q": "theano"})

    assert ("The MLMW guide 0.10.0: Removed", "/guides/mlmw/0.10.0/") in links(response)


def test_publishing_a_version_puts_its_text_in_the_index_at_once(client, indexed, draft):
    assert "1 result" not in text(client.get("/search/", {"q": "scikit-learn"}))
    assert [hit.title for hit in search.search("scikit")] == []

    publish(draft)

    hits = search.search("scikit")
    assert {(hit.title, hit.url) for hit in hits} >= {
        ("Python packages", "/guides/mlmw/#python-packages"),
        ("The MLMW guide 0.10.1: Added", "/guides/mlmw/0.10.1/"),
    }


def test_only_the_latest_published_text_is_searched(client, indexed):
    # 0.9.0's text is history: its sections are not results (its changelog entries still are).
    sections = [hit for hit in search.search("beginner") if hit.kind == "section"]
    assert sections
    assert all(hit.version.number == "0.10.0" for hit in sections)


@pytest.mark.parametrize(
    "query", ['"', "scikit*", "AND (", "-theano", "title:x", "NEAR(a b)", "a'b", "ä ö ü", "%_"]
)
def test_any_input_is_a_query_never_an_error(client, indexed, query):
    response = client.get("/search/", {"q": query})

    assert response.status_code == 200
    assert "Search the guides" in text(response)


def test_a_query_without_words_shows_the_form_and_no_results(client, indexed):
    response = client.get("/search/", {"q": "  ...  "})

    assert response.status_code == 200
    assert "Nothing matches" in text(response)


def test_snippets_escape_the_guides_text(client, v0_9_0):
    v0_9_0.content += "\n\n## Escaping\n\nCompare <b>bold</b> & a < b in markup.\n"
    v0_9_0.save()
    search.reindex(v0_9_0.guide)

    page = client.get("/search/", {"q": "markup"}).content.decode()

    assert "&amp; a &lt; b in <mark>markup</mark>" in page
    assert "<b>bold</b>" not in page


def test_every_page_has_a_search_box_in_its_header(client, indexed):
    header = client.get("/").content.decode().split("</header>")[0]

    assert 'action="/search/"' in header
    assert 'name="q"' in header
