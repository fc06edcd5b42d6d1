"""Request size limits, checked on the declared Content-Length before any of the body is read.

Public pages take small forms (an address, a name, a reason: a few hundred bytes), so their bodies
are capped at PUBLIC_MAX_BODY_BYTES; nothing a visitor sends is spooled to disk (the cap is far below
FILE_UPLOAD_MAX_MEMORY_SIZE). ESP webhooks carry a bounce report, at most WEBHOOK_MAX_BODY_BYTES.
The admin (staff only) keeps Django's own limits and ACCESS_UPLOAD_MAX_BYTES for uploads.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


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
        return self.get_response(request)
