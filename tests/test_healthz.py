"""/healthz tells a load balancer or a compose health check whether the database and the broker answer.

Real PostgreSQL and real Redis; an unreachable dependency is a closed port on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket

import pytest
from django.db import connection

from tests.services import service_unavailable


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(client, **extra):
    response = client.get("/healthz", **extra)
    assert response["Content-Type"] == "application/json"
    return response, json.loads(response.content)


def test_it_answers_200_when_the_database_and_the_broker_answer(client, db, settings, redis_broker):
    settings.CELERY_BROKER_URL = redis_broker

    response, body = health(client)

    assert response.status_code == 200
    assert body == {"status": "ok", "database": "ok", "broker": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_it_answers_503_naming_the_broker_when_the_broker_is_unreachable(client, db, settings):
    port = closed_port()
    settings.CELERY_BROKER_URL = f"redis://:s3cret-pass@127.0.0.1:{port}/0"

    response, body = health(client)

    assert response.status_code == 503
    assert body == {"status": "error", "database": "ok", "broker": "error"}
    # Nothing about where the broker is or how to log in to it.
    assert str(port).encode() not in response.content
    assert b"s3cret" not in response.content and b"127.0.0.1" not in response.content


def test_it_answers_503_naming_the_database_when_the_database_is_unreachable(
    client, transactional_db, settings, redis_broker
):
    if connection.vendor != "postgresql":
        service_unavailable("the unreachable-database case needs PostgreSQL (set DATABASE_URL)")
    settings.CELERY_BROKER_URL = redis_broker
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(closed_port())
    try:
        response, body = health(client)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port

    assert response.status_code == 503
    assert body == {"status": "error", "database": "error", "broker": "ok"}


def test_a_database_that_accepts_connections_but_never_answers_is_reported_as_down(
    client, transactional_db, settings
):
    """A hung server must not hang the probe: DATABASE_CONNECT_TIMEOUT bounds the wait."""
    if connection.vendor != "postgresql":
        service_unavailable("the hung-database case needs PostgreSQL (set DATABASE_URL)")
    settings.CELERY_BROKER_URL = ""
    saved = {key: connection.settings_dict[key] for key in ("PORT", "OPTIONS")}
    with socket.socket() as silent:  # the kernel accepts connections; nobody ever speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        connection.close()
        connection.settings_dict["PORT"] = str(silent.getsockname()[1])
        connection.settings_dict["OPTIONS"] = {**saved["OPTIONS"], "connect_timeout": 1}
        try:
            response, body = health(client)
        finally:
            connection.close()
            connection.settings_dict.update(saved)

    assert response.status_code == 503
    assert body == {"status": "error", "database": "error", "broker": "not configured"}


def test_without_a_broker_tasks_run_in_process_and_the_broker_is_not_configured(
    client, db, settings
):
    settings.CELERY_BROKER_URL = ""

    response, body = health(client)

    assert response.status_code == 200
    assert body == {"status": "ok", "database": "ok", "broker": "not configured"}


def test_it_answers_probes_whatever_their_host_header(client, db, settings):
    """Probes address the container by IP, which is not (and should not be) in ALLOWED_HOSTS."""
    settings.CELERY_BROKER_URL = ""

    response, body = health(client, HTTP_HOST="10.0.3.7:8000")

    assert response.status_code == 200 and body["status"] == "ok"
    assert client.get("/", HTTP_HOST="10.0.3.7:8000").status_code == 400  # pages still refuse it


def test_it_is_not_redirected_to_https(client, db, settings):
    """Load balancers probe over plain HTTP inside the network (SECURE_REDIRECT_EXEMPT)."""
    settings.CELERY_BROKER_URL = ""
    settings.SECURE_SSL_REDIRECT = True

    response, body = health(client)

    assert response.status_code == 200 and body["status"] == "ok"
    assert client.get("/").status_code == 301  # pages still are


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_it_answers_only_reads(client, db, method):
    """Anything but GET/HEAD falls through to the URL resolver: there is no view at /healthz."""
    response = getattr(client, method)("/healthz")

    assert response.status_code in {403, 404, 405}
    assert b'"database"' not in response.content


def test_it_sets_no_cookie_and_needs_no_login(client, db, settings):
    settings.CELERY_BROKER_URL = ""

    response, body = health(client)

    assert response.status_code == 200 and body["status"] == "ok"
    assert not response.cookies
