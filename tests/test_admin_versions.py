"""The admin as editors use it: edit guides and versions, preview the diff, publish."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from guide.diff import SECTION_SEPARATOR
from guide.models import ChangelogEntry, Version
from tests.conftest import MLMW_0_10_1, make_version
from tests.pages import links, text


@pytest.fixture
def staff_without_publish(db) -> User:
    """A staff member who may edit versions but not publish them."""
    user = User.objects.create_user("sam", "sam@mlmw.example", "sam-password", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="guide",
            codename__in=["view_version", "change_version", "view_guide", "view_changelogentry"],
        )
    )
    return user


def snapshot(version: Version) -> tuple:
    version.refresh_from_db()
    return (
        version.status,
        version.published_at,
        version.bump,
        version.published_by_id,
        version.updated_at,
    )


# --- What an editor can open ----------------------------------------------------------------------


def test_an_editor_sees_guides_and_versions_on_the_admin_index(editor_client, draft):
    response = editor_client.get("/admin/")
    page = text(response)

    assert response.status_code == 200
    assert "Guides" in page and "Versions" in page
    assert "Users" not in page and "Groups" not in page


def test_an_editor_can_open_the_guide_admin(editor_client, guide):
    changelist = editor_client.get("/admin/guide/guide/")
    change = editor_client.get(f"/admin/guide/guide/{guide.pk}/change/")

    assert changelist.status_code == 200 and change.status_code == 200
    assert "The MLMW guide" in text(changelist)
    assert "Latest published" in text(changelist)
    assert b'value="https://t.me/mlmw_guide"' in change.content


def test_an_editor_can_edit_a_guides_channel_links_and_bare_ones_become_https(editor_client, guide):
    response = editor_client.post(
        f"/admin/guide/guide/{guide.pk}/change/",
        {
            "slug": "mlmw",
            "title": "The MLMW guide",
            "description": guide.description,
            "telegram_url": "t.me/mlmw_news",
            "reddit_url": "https://www.reddit.com/r/mlmw/",
            "website_url": "",
        },
    )

    assert response.status_code == 302
    guide.refresh_from_db()
    assert guide.telegram_url == "https://t.me/mlmw_news"


def test_an_editor_can_open_the_version_list_and_a_version_with_its_changelog_entries(
    editor_client, draft
):
    changelist = editor_client.get("/admin/guide/version/")
    change = editor_client.get(f"/admin/guide/version/{draft.pk}/change/")

    assert changelist.status_code == 200 and change.status_code == 200
    assert "mlmw 0.10.1" in text(changelist) and "mlmw 0.9.0" in text(changelist)
    # Changelog entries are edited inline on their version's page.
    assert "Changelog entries" in text(change)
    assert "A Python packages section with scikit-learn." in change.content.decode()
    assert ("Preview diff", f"/admin/guide/version/{draft.pk}/preview/") in links(change)
    assert ("Publish…", f"/admin/guide/version/{draft.pk}/preview/#publish") in links(change)


def test_an_editor_can_add_a_version_with_changelog_entries(editor_client, editor, v0_10_0):
    response = editor_client.post(
        "/admin/guide/version/add/",
        {
            "guide": v0_10_0.guide.pk,
            "number": "0.11.0",
            "title": "More links",
            "content": MLMW_0_10_1,
            "status": "draft",
            "publish_at_0": "",
            "publish_at_1": "",
            "entries-TOTAL_FORMS": "1",
            "entries-INITIAL_FORMS": "0",
            "entries-MIN_NUM_FORMS": "0",
            "entries-MAX_NUM_FORMS": "1000",
            "entries-0-order": "0",
            "entries-0-kind": "added",
            "entries-0-text": "scikit-learn.",
        },
    )

    assert response.status_code == 302
    version = Version.objects.get(number="0.11.0")
    assert (version.status, version.created_by) == (Version.Status.DRAFT, editor)
    assert [(e.kind, e.text) for e in version.entries.all()] == [("added", "scikit-learn.")]


def test_an_editor_cannot_open_the_user_admin(editor_client, superuser):
    response = editor_client.get("/admin/auth/user/")

    assert response.status_code == 403
    assert b"root@mlmw.example" not in response.content
    assert "Select user to change" not in text(response)
    assert editor_client.get(f"/admin/auth/user/{superuser.pk}/change/").status_code == 403


def test_the_status_choices_of_a_draft_exclude_published(editor_client, draft):
    response = editor_client.get(f"/admin/guide/version/{draft.pk}/change/")

    assert b'<option value="draft" selected>Draft</option>' in response.content
    assert b'<option value="scheduled">Scheduled</option>' in response.content
    assert b'value="published"' not in response.content


def test_saving_the_form_with_status_published_is_refused(editor_client, draft):
    before = snapshot(draft)

    response = editor_client.post(
        f"/admin/guide/version/{draft.pk}/change/",
        {
            "guide": draft.guide.pk,
            "number": draft.number,
            "title": draft.title,
            "content": draft.content,
            "status": "published",
            "entries-TOTAL_FORMS": "0",
            "entries-INITIAL_FORMS": "0",
            "entries-MIN_NUM_FORMS": "0",
            "entries-MAX_NUM_FORMS": "1000",
        },
    )

    assert response.status_code == 200
    assert "Select a valid choice. published is not one of the available choices." in text(response)
    assert snapshot(draft) == before


def test_a_published_version_is_read_only_history_in_the_change_form(editor_client, v0_10_0):
    response = editor_client.get(f"/admin/guide/version/{v0_10_0.pk}/change/")

    assert response.status_code == 200
    assert b'name="content"' not in response.content
    assert b'name="number"' not in response.content
    assert b'name="status"' not in response.content
    assert ("View on site", "/guides/mlmw/0.10.0/") in links(response)


# --- Preview and publish --------------------------------------------------------------------------


def test_the_preview_of_a_draft_shows_its_diff_and_a_publish_form(editor_client, draft):
    response = editor_client.get(f"/admin/guide/version/{draft.pk}/preview/")
    page = text(response)

    assert response.status_code == 200
    assert "The MLMW guide 0.10.1: Release 0.10.1" in page
    assert "Compared with the latest published version before it, 0.10.0" in page
    assert "this is a patch release" in page
    assert "1 section added, 1 new link" in page
    assert f"New The MLMW guide{SECTION_SEPARATOR}Python packages" in page
    assert ("scikit-learn", "https://scikit-learn.org/") in links(response)
    assert "A Python packages section with scikit-learn." in page
    assert f'action="/admin/guide/version/{draft.pk}/publish/"'.encode() in response.content
    assert b'value="Publish 0.10.1 now"' in response.content


def test_the_preview_of_a_published_version_has_no_publish_form(editor_client, v0_10_0):
    response = editor_client.get(f"/admin/guide/version/{v0_10_0.pk}/preview/")

    assert response.status_code == 200
    assert "1 section added, 1 new link, 1 paragraph edited" in text(response)
    assert b"/publish/" not in response.content


def test_posting_publish_publishes_the_draft_and_says_so(editor_client, editor, draft):
    response = editor_client.post(f"/admin/guide/version/{draft.pk}/publish/", follow=True)

    draft.refresh_from_db()
    assert draft.status == Version.Status.PUBLISHED
    assert draft.bump == "patch"
    assert draft.published_by == editor
    assert response.redirect_chain == [(f"/admin/guide/version/{draft.pk}/change/", 302)]
    assert "Published mlmw 0.10.1 (patch release)." in text(response)


def test_a_staff_user_without_the_publish_permission_cannot_publish(
    client, staff_without_publish, draft
):
    client.force_login(staff_without_publish)
    before = snapshot(draft)

    preview = client.get(f"/admin/guide/version/{draft.pk}/preview/")
    response = client.post(f"/admin/guide/version/{draft.pk}/publish/")

    assert preview.status_code == 200
    assert b"/publish/" not in preview.content
    assert response.status_code == 403
    assert snapshot(draft) == before
    assert draft.status == Version.Status.DRAFT


def test_getting_the_publish_address_does_not_publish(editor_client, draft):
    before = snapshot(draft)

    response = editor_client.get(f"/admin/guide/version/{draft.pk}/publish/")

    assert response.status_code == 302
    assert response["Location"] == f"/admin/guide/version/{draft.pk}/preview/"
    assert snapshot(draft) == before


def test_publishing_a_published_version_shows_the_error_and_changes_nothing(editor_client, v0_10_0):
    before = snapshot(v0_10_0)

    response = editor_client.post(f"/admin/guide/version/{v0_10_0.pk}/publish/", follow=True)

    assert "Mlmw 0.10.0 is already published." in text(response)  # the admin capitalises
    assert "Published mlmw" not in text(response)
    assert snapshot(v0_10_0) == before


def test_publishing_a_lower_number_shows_the_error_and_changes_nothing(editor_client, v0_10_0):
    lower = make_version(v0_10_0.guide, "0.9.9", MLMW_0_10_1)
    before = snapshot(lower)

    response = editor_client.post(f"/admin/guide/version/{lower.pk}/publish/", follow=True)

    assert "0.9.9 is not greater than the latest published version 0.10.0." in text(response)
    assert snapshot(lower) == before


def test_the_publish_action_publishes_the_selected_versions_in_number_order(editor_client, draft):
    minor = make_version(draft.guide, "0.11.0", MLMW_0_10_1)

    response = editor_client.post(
        "/admin/guide/version/",
        {"action": "publish_selected", "_selected_action": [minor.pk, draft.pk]},
        follow=True,
    )

    draft.refresh_from_db()
    minor.refresh_from_db()
    assert (draft.status, draft.bump) == (Version.Status.PUBLISHED, "patch")
    assert (minor.status, minor.bump) == (Version.Status.PUBLISHED, "minor")
    assert draft.published_at <= minor.published_at
    page = text(response)
    assert "Published mlmw 0.10.1 (patch release)." in page
    assert "Published mlmw 0.11.0 (minor release)." in page


def test_the_publish_action_reports_each_failure_and_publishes_the_rest(
    editor_client, draft, v0_9_0
):
    response = editor_client.post(
        "/admin/guide/version/",
        {"action": "publish_selected", "_selected_action": [v0_9_0.pk, draft.pk]},
        follow=True,
    )

    draft.refresh_from_db()
    assert draft.status == Version.Status.PUBLISHED
    assert "Mlmw 0.9.0 is already published." in text(response)
    assert "Published mlmw 0.10.1 (patch release)." in text(response)


def test_the_publish_action_is_not_offered_without_the_publish_permission(
    client, staff_without_publish, draft
):
    client.force_login(staff_without_publish)
    before = snapshot(draft)

    changelist = client.get("/admin/guide/version/")
    response = client.post(
        "/admin/guide/version/", {"action": "publish_selected", "_selected_action": [draft.pk]}
    )

    assert b"publish_selected" not in changelist.content
    assert snapshot(draft) == before
    assert response.status_code in {200, 302}
    assert ChangelogEntry.objects.filter(version=draft).count() == 1
