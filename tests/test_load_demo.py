"""manage.py load_demo: the demo guides and history, loaded once however often it runs."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from guide.changelog import entries_for
from guide.models import ChangelogEntry, Guide, Version
from tests.pages import links, text

DEMO = Path(__file__).resolve().parent.parent / "guide" / "demo"


def load_demo() -> str:
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


@pytest.fixture
def demo(db) -> None:
    load_demo()


def test_loading_twice_creates_the_guides_and_versions_once(db):
    first = load_demo()
    entries_after_first = ChangelogEntry.objects.count()
    second = load_demo()

    assert first == "demo data: 2 guides, 6 versions created\n"
    assert second == "demo data: 2 guides, 0 versions created\n"
    assert sorted(Guide.objects.values_list("slug", flat=True)) == ["mdtp", "mlmw"]
    assert Version.objects.count() == 6
    assert ChangelogEntry.objects.count() == entries_after_first > 0


def test_the_demo_history_is_published_in_number_order_and_1_0_0_is_a_draft(demo):
    rows = {
        (v.guide.slug, v.number): (v.status, v.bump, v.published_at)
        for v in Version.objects.select_related("guide")
    }

    assert rows == {
        ("mlmw", "0.9.0"): ("published", "major", datetime(2026, 6, 1, 9, tzinfo=UTC)),
        ("mlmw", "0.10.0"): ("published", "minor", datetime(2026, 9, 15, 9, tzinfo=UTC)),
        ("mlmw", "0.10.1"): ("published", "patch", datetime(2026, 10, 2, 9, tzinfo=UTC)),
        ("mlmw", "1.0.0"): ("draft", "", None),
        ("mdtp", "1.0.0"): ("published", "major", datetime(2026, 7, 10, 9, tzinfo=UTC)),
        ("mdtp", "1.1.0"): ("published", "minor", datetime(2026, 10, 20, 9, tzinfo=UTC)),
    }
    assert Version.objects.filter(guide__slug="mlmw").latest().number == "0.10.1"


def test_the_demo_versions_carry_their_files_and_changelog_sections(demo):
    changelog = (DEMO / "mlmw" / "CHANGELOG.md").read_text(encoding="utf-8")

    for number in ["0.9.0", "0.10.0", "0.10.1", "1.0.0"]:
        version = Version.objects.get(guide__slug="mlmw", number=number)
        assert version.content == (DEMO / "mlmw" / f"{number}.md").read_text(encoding="utf-8")
        assert [(e.kind, e.text) for e in version.entries.all()] == entries_for(changelog, number)
    guide = Guide.objects.get(slug="mlmw")
    assert guide.title == "The MLMW guide"
    assert guide.telegram_url == "https://t.me/mlmw_guide"


def test_the_demo_compare_page_shows_a_meaningful_diff(client, demo):
    response = client.get("/guides/mlmw/compare/0.9.0...0.10.1/")
    page = text(response)
    page_links = links(response)

    assert response.status_code == 200
    assert (
        "2 sections added, 10 new links, 1 link updated, 12 paragraphs edited, 2 links retitled, "
        "1 link removed" in page
    )
    assert "New Interviews" in page  # a new section, by its heading path under the title
    # A removed link is shown struck in its removed paragraph, not as a link.
    assert "Theano: the original symbolic tensor library" in page
    assert ("Theano", "https://github.com/Theano/Theano") not in page_links
    # Retitled inside a paragraph that changed otherwise too: the word diff shows it there.
    assert "Bishop (2006), Pattern Recognition and Machine Learning" in page
    assert ("randomlyCoding", "https://www.reddit.com/user/randomlyCoding/") in page_links
    # The changelogs of both releases in the range, newest first; not 0.9.0's own.
    assert page.index("0.10.1 Link and typo fixes") < page.index(
        "0.10.0 Interviews and more reference texts"
    )
    assert "Theano from the deep learning packages: the library is no longer maintained." in page
    assert "First public version of the guide" not in page


def test_the_demo_draft_is_not_public(client, demo):
    assert client.get("/guides/mlmw/1.0.0/").status_code == 404
    guide_page = client.get("/guides/mlmw/").content
    assert b"The MLMW guide 0.10.1 is the latest of" in guide_page
    assert b'id="mlops-and-productisation"' not in guide_page
    assert b"Made With ML" not in guide_page


def test_without_debug_no_demo_accounts_are_created(db, settings):
    settings.DEBUG = False

    out = load_demo()

    assert User.objects.count() == 0
    assert "demo accounts" not in out


def test_with_debug_the_demo_accounts_are_created_once(db, settings):
    settings.DEBUG = True

    out = load_demo()
    load_demo()

    assert "demo accounts: admin/admin (superuser), editor/editor (Editors group)" in out
    assert sorted(User.objects.values_list("username", flat=True)) == ["admin", "editor"]
    editor = User.objects.get(username="editor")
    assert editor.is_staff and not editor.is_superuser
    assert editor.has_perm("guide.publish_version")
