"""What an editor may upload as an artifact revision, decided by the file's content, never its name.

Accepted: PDF (starts with %PDF-), EPUB (a ZIP whose first member is the stored `mimetype` file
saying application/epub+zip, as the EPUB container spec requires) and UTF-8 text without NUL bytes
(plain text, CSV, Markdown: the name's extension only chooses among these text types). Anything else,
including other ZIPs (they could hold anything), executables and HTML, is refused. A file over
ACCESS_UPLOAD_MAX_BYTES is refused before it is read. No new dependency: these signatures are a
few bytes each, and text is checked by decoding it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.files import File
from django.template.defaultfilters import filesizeformat
from django.utils.text import get_valid_filename

CHUNK = 64 * 1024
TEXT_TYPES = {
    ".csv": ("text/csv; charset=utf-8", ".csv"),
    ".md": ("text/markdown; charset=utf-8", ".md"),
    ".markdown": ("text/markdown; charset=utf-8", ".md"),
}
PLAIN = ("text/plain; charset=utf-8", ".txt")
EPUB_HEAD = b"mimetype" + b"application/epub+zip"
HTML_STARTS = (b"<!doctype html", b"<html", b"<script", b"<svg", b"<?xml")


@dataclass(frozen=True)
class Checked:
    content_type: str
    extension: str
    size: int
    sha256: str
    original_name: str


def check(upload: File) -> Checked:
    """The type and digest of an uploaded file, or ValidationError saying why it is refused."""
    limit = settings.ACCESS_UPLOAD_MAX_BYTES
    size = upload.size or 0
    if size == 0:
        raise ValidationError("The file is empty.", code="empty")
    if size > limit:
        raise ValidationError(
            f"The file is {filesizeformat(size)}; at most {filesizeformat(limit)} may be uploaded.",
            code="too_large",
        )
    upload.seek(0)
    head = upload.read(64)
    upload.seek(0)
    digest = hashlib.sha256()
    text_ok = True
    decoder = _utf8_decoder()
    for chunk in upload.chunks(CHUNK):
        digest.update(chunk)
        if text_ok:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                text_ok = False
            text_ok = text_ok and b"\x00" not in chunk
    if text_ok:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            text_ok = False
    upload.seek(0)
    name = _display_name(upload.name or "")
    if head.startswith(b"%PDF-"):
        content_type, extension = "application/pdf", ".pdf"
    elif head.startswith(b"PK\x03\x04") and head[30:58] == EPUB_HEAD:
        content_type, extension = "application/epub+zip", ".epub"
    elif text_ok and not head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(HTML_STARTS):
        content_type, extension = TEXT_TYPES.get(os.path.splitext(name)[1].lower(), PLAIN)
    else:
        raise ValidationError(
            "This type of file cannot be uploaded: use a PDF, an EPUB, or a text, CSV or Markdown "
            "file (the content decides, not the name).",
            code="type",
        )
    return Checked(content_type, extension, size, digest.hexdigest(), name)


def _utf8_decoder():
    import codecs

    return codecs.getincrementaldecoder("utf-8")()


def _display_name(name: str) -> str:
    # Only for showing in the admin: the last path component, made harmless. Storage never sees it.
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    try:
        return get_valid_filename(base)[:200]
    except SuspiciousFileOperation:  # names like ".."
        return ""


def store(artifact, upload: File, **fields):
    """A new revision of `artifact` from `upload` (the content checked first), saved through storage.

    For code that adds revisions outside the admin form (the demo loader, tests); the admin form
    runs check() itself so a refusal is a form error.
    """
    from access.models import ArtifactRevision

    checked = check(upload)
    revision = ArtifactRevision(
        artifact=artifact,
        content_type=checked.content_type,
        extension=checked.extension,
        size=checked.size,
        sha256=checked.sha256,
        original_name=checked.original_name,
        **fields,
    )
    revision.file.save(upload.name or "upload", upload, save=False)
    revision.save()
    return revision
