"""A published version is history nobody can delete in the admin: subscribers' baselines, the next
release's diff, public URLs and feed entries rest on it. Drafts can be deleted."""

from __future__ import annotations

from django.urls import reverse

from guide.models import ChangelogEntry, Version


def delete_url(version: Version) -> str:
    return reverse("admin:guide_version_delete", args=[version.pk])


def bulk_delete(client, versions: list[Version]):
    return client.post(
        reverse("admin:guide_version_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(v.pk) for v in versions],
            "post": "yes",
        },
    )


def test_even_a_superuser_cannot_delete_a_published_version(admin_client, v0_10_0):
    page = admin_client.get(delete_url(v0_10_0))
    posted = admin_client.post(delete_url(v0_10_0), {"post": "yes"})
    form = admin_client.get(reverse("admin:guide_version_change", args=[v0_10_0.pk]))

    assert page.status_code == 403 and posted.status_code == 403
    assert Version.objects.filter(pk=v0_10_0.pk, status="published").exists()
    assert ChangelogEntry.objects.filter(version=v0_10_0).exists()
    assert delete_url(v0_10_0) not in form.content.decode()  # no Delete button offered


def test_the_bulk_delete_action_refuses_a_selection_with_a_published_version(
    admin_client, v0_10_0, draft
):
    page = bulk_delete(admin_client, [v0_10_0, draft])

    assert page.status_code == 403
    assert Version.objects.filter(pk__in=[v0_10_0.pk, draft.pk]).count() == 2


def test_a_draft_can_still_be_deleted(admin_client, draft):
    response = admin_client.post(delete_url(draft), {"post": "yes"})

    assert response.status_code == 302
    assert not Version.objects.filter(pk=draft.pk).exists()
