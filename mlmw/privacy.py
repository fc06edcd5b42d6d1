"""Pages reached through a personal link are never stored by a cache.

A URL with a token in it (confirm, unsubscribe, preferences, export, erase, verify, download, stop
notices) shows one person's address or choices: a shared cache or the browser's disk must not keep
it for the next visitor of that URL. Any route with a `token` argument gets the header, so a new
tokened page cannot forget it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

PRIVATE = "private, no-store"


class PrivateTokenPagesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is not None and "token" in match.kwargs:
            response["Cache-Control"] = PRIVATE
        return response
