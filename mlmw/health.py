"""/healthz: is this process able to serve? It checks the database and the Celery broker.

For load balancers and the compose health checks: no auth, no rate limit, no redirect to HTTPS
(SECURE_REDIRECT_EXEMPT) and any Host header (probes use the container's address, which is not in
ALLOWED_HOSTS), which is why it is answered by a middleware placed before CommonMiddleware's host
validation rather than by a view. The body names each dependency and its state, never a URL, host or
error text (those go to the log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

PATH = "/healthz"
# Each probe gives up after this many seconds, so a dead dependency cannot hold the prober's request
# (or a gunicorn worker) for long.
TIMEOUT_SECONDS = 2


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("healthz: the database is unreachable")
        return False


def broker_state() -> str:
    """ "ok", "error", or "not configured" (no broker: tasks run in-process, see settings)."""
    url = settings.CELERY_BROKER_URL
    if not url:
        return "not configured"
    from kombu import Connection

    try:
        with Connection(
            url,
            connect_timeout=TIMEOUT_SECONDS,
            transport_options={
                "socket_connect_timeout": TIMEOUT_SECONDS,
                "socket_timeout": TIMEOUT_SECONDS,
            },
        ) as conn:
            # One immediate retry (kombu would otherwise back off for seconds before it).
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, interval_max=0,
                timeout=TIMEOUT_SECONDS,
            )  # fmt: skip
        return "ok"
    except Exception:
        logger.exception("healthz: the broker is unreachable")
        return "error"


def report() -> tuple[int, dict[str, str]]:
    checks = {"database": "ok" if database_ok() else "error", "broker": broker_state()}
    healthy = all(state in {"ok", "not configured"} for state in checks.values())
    return (200 if healthy else 503), {"status": "ok" if healthy else "error", **checks}


def healthz(request: HttpRequest) -> HttpResponse:
    status, body = report()
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    """Answers GET/HEAD /healthz before host validation, sessions, CSRF and the rest."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.rstrip("/") == PATH and request.method in {"GET", "HEAD"}:
            return healthz(request)
        return self.get_response(request)
