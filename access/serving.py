"""Serving an artifact revision: from storage in bounded memory, with HEAD and single Range requests,
or handed to the web server (X-Accel-Redirect for nginx, X-Sendfile for Apache/lighttpd) so no
gunicorn worker is held by a slow download (ACCESS_SENDFILE)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from access.models import ArtifactRevision

CHUNK = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Far above "bytes=" and two 19-digit offsets (the largest int64) or a few ranges; far below the
# 4,300 digits int() refuses.
MAX_RANGE_HEADER = 200


class Unsatisfiable(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single range, None to send the whole file (no, several or malformed
    ranges: RFC 9110 lets a server ignore Range), Unsatisfiable when it lies outside the file."""
    if len(header) > MAX_RANGE_HEADER:
        # No file has offsets that long: nothing to satisfy, and no huge number is parsed.
        raise Unsatisfiable
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match or not any(match.groups()):
        return None
    start, end = match.groups()
    if not start:  # the last N bytes
        length = int(end)
        if length == 0:
            raise Unsatisfiable
        return max(0, size - length), size - 1
    first = int(start)
    last = min(int(end), size - 1) if end else size - 1
    if end and int(end) < first:
        return None  # invalid, so ignored
    if first >= size:
        raise Unsatisfiable
    return first, last


def wanted_range(request: HttpRequest, revision: ArtifactRevision) -> tuple[int, int] | None:
    header = request.headers.get("Range", "")
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    if if_range and if_range != revision.etag():
        return None  # the client's partial copy is of another revision: send it all
    return parse_range(header, revision.size)


def _read(name: str, first: int, last: int) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as handle:
        handle.seek(first)
        left = last - first + 1
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def _headers(response: HttpResponse, revision: ArtifactRevision) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{revision.download_name()}"'
    response["Cache-Control"] = "private, no-store"
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = revision.etag()
    response["X-Content-Type-Options"] = "nosniff"
    return response


def unsatisfiable(revision: ArtifactRevision) -> HttpResponse:
    response = HttpResponse(status=416, content_type="text/plain")
    response["Content-Range"] = f"bytes */{revision.size}"
    response["Cache-Control"] = "private, no-store"
    return response


def serve(
    request: HttpRequest, revision: ArtifactRevision, byte_range: tuple[int, int] | None
) -> HttpResponse:
    """The response for a GET or HEAD of `revision` (the caller has already checked access)."""
    mode = settings.ACCESS_SENDFILE
    if mode and request.method == "GET":
        # The web server reads the file and handles Range itself; we only say which file.
        response = HttpResponse(content_type=revision.content_type)
        if mode == "x-accel-redirect":
            response["X-Accel-Redirect"] = settings.ACCESS_SENDFILE_PREFIX + revision.file.name
        else:
            response["X-Sendfile"] = default_storage.path(revision.file.name)
        return _headers(response, revision)
    first, last = byte_range or (0, revision.size - 1)
    status = 206 if byte_range else 200
    if request.method == "HEAD":
        response = HttpResponse(status=status, content_type=revision.content_type)
    else:
        response = StreamingHttpResponse(
            _read(revision.file.name, first, last),
            status=status,
            content_type=revision.content_type,
        )
    response["Content-Length"] = str(last - first + 1)
    if byte_range:
        response["Content-Range"] = f"bytes {first}-{last}/{revision.size}"
    return _headers(response, revision)
