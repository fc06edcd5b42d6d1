"""Real `celery worker` processes for the tests marked `worker`.

Each runs on the real Redis broker (the suite's own database, tests.services.redis_broker) against
the real PostgreSQL test database; the test process enqueues through the same broker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.services import service_unavailable

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "worker: runs a real Celery worker on Redis and PostgreSQL")


def database_url_of_test_db() -> str:
    """The test database (test_<name>) as a DATABASE_URL, for processes the test starts."""
    s = connection.settings_dict
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def start_worker(
    transactional_db, redis_broker: str, settings
) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start real `celery worker` processes on the real broker and the test PostgreSQL database.

    `start_worker(concurrency=2, beat=False, **env)` starts one and returns its Popen (with
    beat=True it runs beat too, so the sweepers run on their MAIL_SWEEP_INTERVAL); `env` adds environment
    variables for it (the worker reads its settings from mlmw.test_settings and the environment,
    e.g. MAIL_BATCH_SIZE="5"), and the same values are set on this process's settings (see
    `_mirror_settings`), so code the test runs itself (publish, the sweeper) agrees with the worker.
    The test process enqueues through the same broker (eager mode off), so a task goes the whole way:
    on_commit → Redis → worker process → PostgreSQL. Tests wait on the database, never on sleeps.

    Each worker is its own process group (start_new_session), so a test can kill it whole:
    os.killpg(worker.pid, signal.SIGKILL). Workers still running at the end are stopped warm
    (SIGTERM), then killed.
    """
    if connection.vendor != "postgresql":
        service_unavailable("worker tests need PostgreSQL (set DATABASE_URL)")
    from mlmw.celery import app

    settings.CELERY_BROKER_URL = redis_broker
    app.conf.update(broker_url=redis_broker, task_always_eager=False)
    _reset_broker_pools(app)
    # The workers' own log, for reading when a worker test fails: var/test-worker.log, or
    # TEST_WORKER_LOG (a session of its own, with its own TEST_REDIS_URL database, beside another).
    path = Path(os.environ.get("TEST_WORKER_LOG", ROOT / "var" / "test-worker.log"))
    path.parent.mkdir(parents=True, exist_ok=True)
    log = open(path, "ab")  # noqa: SIM115 - closed after the workers
    started: list[subprocess.Popen] = []

    def start(*, concurrency: int = 2, beat: bool = False, **extra: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mlmw.test_settings",
            "DATABASE_URL": database_url_of_test_db(),
            "CELERY_BROKER_URL": redis_broker,
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        _mirror_settings(settings, extra)
        log.write(f"--- worker for {os.environ.get('PYTEST_CURRENT_TEST', '?')}\n".encode())
        log.flush()
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "mlmw.celery:app", "worker",
                f"--concurrency={concurrency}", "--pool=prefork", "--loglevel=INFO",
                "--without-heartbeat", "--without-mingle", "--without-gossip",
                "-n", f"test-{os.getpid()}-{len(started)}@%h", *beat_args(beat),
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        process.node_name = f"test-{os.getpid()}-{len(started)}@{socket.gethostname()}"
        started.append(process)
        return process

    def beat_args(beat: bool) -> list[str]:
        if not beat:
            return []
        schedule = path.parent / f"test-beat-{os.getpid()}-{len(started)}"
        return ["--beat", f"--schedule={schedule}"]

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        app.conf.update(broker_url=None, task_always_eager=True)
        _reset_broker_pools(app)


def _mirror_settings(settings, env: dict[str, str]) -> None:
    """Give this process the settings a worker reads from `env` (the ones worker tests set)."""
    for name, value in env.items():
        if name == "TEST_EMAIL_BACKEND":
            settings.EMAIL_BACKEND = value
            if "mailgun" in value and "MAIL_MERGE_PLACEHOLDER" not in env:
                settings.MAIL_MERGE_PLACEHOLDER = "%recipient.{}%"  # settings.py's default for it
        elif name == "TEST_ANYMAIL_REQUESTS_TIMEOUT":
            settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": float(value)}
        elif name.startswith("ANYMAIL_"):
            settings.ANYMAIL = {**settings.ANYMAIL, name.removeprefix("ANYMAIL_"): value}
        elif name.startswith("MAIL_") or name == "CELERY_TASK_TIME_LIMIT":
            text = name in ("MAIL_MERGE_PLACEHOLDER", "MAIL_RECONCILE")
            setattr(settings, name, value if text else int(value))
            if name == "CELERY_TASK_TIME_LIMIT":  # as settings.py derives it
                settings.CELERY_TASK_SOFT_TIME_LIMIT = int(value) - 5


@pytest.fixture
def celery_worker(start_worker) -> subprocess.Popen:
    """A real `celery worker` process (two pool processes) with the test settings."""
    return start_worker()


REFUSING_BROKER = "redis://127.0.0.1:1/0"  # nobody listens on port 1: every connection is refused


@contextlib.contextmanager
def broker_refusing() -> Iterator[None]:
    """This process's broker refuses connections until the block ends (Redis down, as the web
    process sees it); the workers keep theirs. Only inside a test using `start_worker`."""
    from mlmw.celery import app

    working = app.conf.broker_url
    app.conf.update(broker_url=REFUSING_BROKER)
    _reset_broker_pools(app)
    try:
        yield
    finally:
        app.conf.update(broker_url=working)
        _reset_broker_pools(app)


def _reset_broker_pools(app) -> None:
    # Celery caches its connection and producer pools on first use; drop them so the next send uses
    # the broker URL just configured (the suite switches between eager mode and the real broker).
    from kombu import pools

    pools.reset()  # closes and forgets kombu's global connection/producer pools
    app._pool = None
    app.amqp._producer_pool = None
