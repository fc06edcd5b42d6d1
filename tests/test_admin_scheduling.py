"""Scheduling a version in the admin: refused, with the reason on the form, unless it could go out.

A schedule without a time, or of a version publish() would refuse when due (its number is not above
the latest published one), is refused when saved, instead of failing later where only the server log
sees it. The preview shows the same reason in place of the Publish button.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guide.models import Version
from tests.conftest import MLMW_0_10_1, make_version
from tests.pages import text


def change_form(version: Version, **values) -> dict[str, str]:
    data = {
        "guide": str(version.guide.pk),
        "number": version.number,
        "title": version.title,
        "content": version.content,
        "status": "draft",
        "publish_at_0": "",
        "publish_at_1": "",
        "entries-TOTAL_FORMS": "0",
        "entries-INITIAL_FORMS": "0",
        "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "1000",
    }
    return {**data, **values}


def stored(version: Version) -> tuple:
    version.refresh_from_db()
    return version.status, version.publish_at


@pytest.fixture
def behind(v0_10_0) -> Version:
    """A draft 0.10.5 while 0.11.0 is published: it can never be published."""
    make_version(
        v0_10_0.guide,
        "0.11.0",
        MLMW_0_10_1,
        published_at=datetime(2026, 10, 1, tzinfo=UTC),
        bump="minor",
    )
    return make_version(v0_10_0.guide, "0.10.5", MLMW_0_10_1)


def test_scheduling_without_a_publish_time_says_so_on_the_field_and_saves_nothing(
    editor_client, draft
):
    response = editor_client.post(
        f"/admin/guide/version/{draft.pk}/change/", change_form(draft, status="scheduled")
    )

    assert response.status_code == 200
    page = text(response)
    assert "A scheduled version needs a 'Publish at' time." in page
    assert "version_scheduled_has_time" not in page
    assert "is violated" not in page
    errors = response.context["adminform"].form.errors
    assert errors == {"publish_at": ["A scheduled version needs a 'Publish at' time."]}
    assert stored(draft) == (Version.Status.DRAFT, None)


def test_a_version_below_the_latest_published_cannot_be_scheduled_and_the_form_says_why(
    editor_client, behind
):
    response = editor_client.post(
        f"/admin/guide/version/{behind.pk}/change/",
        change_form(behind, status="scheduled", publish_at_0="2026-12-01", publish_at_1="09:00:00"),
    )

    assert response.status_code == 200
    assert (
        "It cannot be scheduled: 0.10.5 is not greater than the latest published version 0.11.0."
        in text(response)
    )
    assert stored(behind) == (Version.Status.DRAFT, None)


def test_a_new_version_below_the_latest_published_cannot_be_added_as_scheduled(
    editor_client, v0_10_0
):
    response = editor_client.post(
        "/admin/guide/version/add/",
        change_form(
            v0_10_0,
            number="0.9.5",
            title="Too late",
            status="scheduled",
            publish_at_0="2026-12-01",
            publish_at_1="09:00:00",
        ),
    )

    assert response.status_code == 200
    assert "0.9.5 is not greater than the latest published version 0.10.0." in text(response)
    assert not Version.objects.filter(number="0.9.5").exists()


def test_a_version_that_could_be_published_is_scheduled(editor_client, draft):
    response = editor_client.post(
        f"/admin/guide/version/{draft.pk}/change/",
        change_form(draft, status="scheduled", publish_at_0="2026-12-01", publish_at_1="09:00:00"),
    )

    assert response.status_code == 302
    assert stored(draft) == (Version.Status.SCHEDULED, datetime(2026, 12, 1, 9, tzinfo=UTC))


def test_the_preview_of_a_version_that_cannot_be_published_shows_why_instead_of_publish(
    editor_client, behind
):
    response = editor_client.get(f"/admin/guide/version/{behind.pk}/preview/")

    assert response.status_code == 200
    page = text(response)
    assert (
        "It cannot be published: 0.10.5 is not greater than the latest published version 0.11.0."
        in page
    )
    assert "Publish 0.10.5 now" not in response.content.decode()
    assert "patch release" not in page
    assert f"/admin/guide/version/{behind.pk}/publish/" not in response.content.decode()
