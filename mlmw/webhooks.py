"""The ESP webhooks mounted under /anymail/: only those of the ESPs this deployment uses (ESP_WEBHOOKS),
each answering a body it cannot read with 400 rather than a 500 and a traceback.

anymail's own urls.py mounts every ESP it knows. An unconfigured one answers any POST with an error
(its settings are missing), and an ESP retries an error for days; a 404 tells a scanner nothing and
an ESP pointed at the wrong URL that it is wrong.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable

from anymail import urls as anymail_urls
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import URLPattern

logger = logging.getLogger(__name__)

# Bodies anymail cannot parse (broken JSON, a field of the wrong type, a missing one) raise these
# from its parsers; a failure of our own receiver is caught and logged in subscriptions.bounces.
_UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, IndexError)


def _readable_or_400(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)  # keeps csrf_exempt: ESPs post without a token
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except _UNREADABLE as exc:
            logger.warning("unreadable webhook body at %s: %s", request.path, type(exc).__name__)
            return HttpResponseBadRequest("Unreadable body.", content_type="text/plain")

    return wrapped


def urlpatterns(esps: Iterable[str]) -> list[URLPattern]:
    """anymail's URL patterns of `esps` (tracking and inbound), their views wrapped as above."""
    prefixes = tuple(f"{esp}/" for esp in esps)
    mounted = []
    for pattern in anymail_urls.urlpatterns:
        route = str(pattern.pattern).lstrip("^")
        if prefixes and route.startswith(prefixes):
            mounted.append(
                URLPattern(pattern.pattern, _readable_or_400(pattern.callback), name=pattern.name)
            )
    return mounted
