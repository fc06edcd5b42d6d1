"""Editors upload artifact revisions in the admin. The content decides what is accepted (PDF, EPUB,
UTF-8 text/CSV/Markdown), not the name; a refusal is a clear form error and stores nothing; stored
names never come from the upload, so no path traversal."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from access.management.commands.load_demo_access import guide_pdf
from access.models import ArtifactRevision
from tests.conftest import make_artifact
from tests.forms import page_forms
from tests.pages import text

PDF = guide_pdf("A test PDF", "One line.")
EPUB_HEAD = b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/epub+zip"


@pytest.fixture
def artifact(guide, media_root):
    return make_artifact(guide, "The MLMW guide")


@pytest.fixture
def upload(editor_client, reviewing_editor, artifact):
    """Post the artifact's admin form with one new revision; returns the response."""
    url = reverse("admin:access_artifact_change", args=[artifact.pk])

    def post(name: str, data: bytes, **fields):
        page = editor_client.get(url)
        (form,) = [f for f in page_forms(page) if "revisions-TOTAL_FORMS" in f.fields]
        payload = {k: v[0] if len(v) == 1 else v for k, v in form.fields.items()}
        payload.update({"revisions-0-file": SimpleUploadedFile(name, data), **fields})
        return editor_client.post(url, payload)

    return post


def stored_files(media_root) -> list:
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []


def test_a_pdf_is_stored_under_a_random_name_with_its_type(upload, artifact, media_root):
    response = upload("../../etc/passwd.pdf", PDF, **{"revisions-0-note": "First edition"})
    assert response.status_code == 302, text(response)
    revision = ArtifactRevision.objects.get()
    assert revision.content_type == "application/pdf"
    assert revision.size == len(PDF)
    assert revision.original_name == "passwd.pdf"
    assert revision.file.name.startswith(f"artifacts/{artifact.pk}/")
    assert ".." not in revision.file.name and "passwd" not in revision.file.name
    (path,) = stored_files(media_root)
    assert path.read_bytes() == PDF
    assert path.resolve().is_relative_to(media_root.resolve())


def test_text_is_typed_by_its_name_only_among_text_types(upload):
    assert upload("topics.csv", b"topic,link\nTrees,https://x.org\n").status_code == 302
    assert ArtifactRevision.objects.get().content_type == "text/csv; charset=utf-8"


def test_an_epub_is_recognised_by_its_container_signature(upload):
    assert upload("book.epub", EPUB_HEAD + b"\x00" * 100).status_code == 302
    assert ArtifactRevision.objects.get().content_type == "application/epub+zip"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("guide.pdf", b"MZ\x90\x00\x03\x00\x00\x00 a Windows program"),
        ("guide.pdf", b"<!DOCTYPE html><script>alert(1)</script>"),
        ("notes.md", b"\xff\xfe\x00binary\x00"),
        ("archive.pdf", b"PK\x03\x04" + b"\x00" * 60),
    ],
    ids=["executable named .pdf", "html named .pdf", "binary named .md", "plain zip"],
)
def test_other_content_is_refused_whatever_its_name(upload, media_root, name, data):
    response = upload(name, data)
    assert response.status_code == 200
    assert "This type of file cannot be uploaded" in text(response)
    assert not ArtifactRevision.objects.exists()
    assert stored_files(media_root) == []


def test_a_file_over_the_size_limit_is_refused(upload, media_root, settings):
    settings.ACCESS_UPLOAD_MAX_BYTES = 100
    response = upload("big.pdf", PDF + b"%" * 200)
    assert "at most 100" in text(response)
    assert not ArtifactRevision.objects.exists()
    assert stored_files(media_root) == []


def test_an_earlier_revision_marked_public_is_downloadable_by_anyone(client, artifact):
    from tests.conftest import add_revision

    earlier = add_revision(artifact, PDF, "old.pdf", public=True)
    latest = add_revision(artifact, guide_pdf("newer", ""), "new.pdf")
    assert artifact.public_revision() == earlier
    public = client.get(reverse("access:public_download", args=[artifact.pk, earlier.pk]))
    assert b"".join(public.streaming_content) == PDF
    assert public["Content-Disposition"] == 'attachment; filename="the-mlmw-guide.pdf"'
    hidden = client.get(reverse("access:public_download", args=[artifact.pk, latest.pk]))
    assert hidden.status_code == 404
    home = text(client.get("/"))
    assert "Earlier public PDF" in home and "Request access" in home
