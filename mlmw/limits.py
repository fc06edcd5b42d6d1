"""Request size limits, checked on the declared Content-Length before any of the body is read.

Public pages take small forms (an address, a name, a reason: a few hundred bytes), so their bodies
are capped at PUBLIC_MAX_BODY_BYTES, and a file part in a multipart body is refused (400): nothing a
visitor sends is stored or spooled to disk. ESP webhooks carry a bounce report, at most
WEBHOOK_MAX_BODY_BYTES. The admin (staff only) keeps Django's own limits and ACCESS_UPLOAD_MAX_BYTES
for uploads.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import SuspiciousMultipartForm
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse


class RefuseFiles(FileUploadHandler):
    """No public page takes a file: a multipart body's fields are read (browsers and clients may send
    forms so), a file part is a 400 before any of it is stored."""

    def new_file(self, *args, **kwargs) -> None:
        raise SuspiciousMultipartForm("This page takes no file uploads.")

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        return None

    def file_complete(self, file_size: int) -> None:
        return None


class RequestSizeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.admin_prefix = f"/{settings.ADMIN_PATH}/"

    def limit(self, path: str) -> int | None:
        if path.startswith(self.admin_prefix):
            return None
        if path.startswith("/anymail/"):
            return settings.WEBHOOK_MAX_BODY_BYTES
        return settings.PUBLIC_MAX_BODY_BYTES

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = self.limit(request.path)
        if limit is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return HttpResponse("Bad Content-Length.", status=400, content_type="text/plain")
            if length > limit:
                return HttpResponse(
                    f"The request body is larger than {limit} bytes.",
                    status=413,
                    content_type="text/plain",
                )
            request.upload_handlers = [RefuseFiles(request)]
        return self.get_response(request)
