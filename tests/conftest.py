"""The small named world the tests share, and the real services some of them need.

World: the MLMW guide with two published versions (0.9.0 and 0.10.0, each with changelog entries) and a
draft 0.10.1; an editor in the Editors group; a plain admin superuser.

Services: tests marked `worker` run a real Celery worker process on the real Redis broker against
the real PostgreSQL test database. Where PostgreSQL or Redis cannot be reached they skip locally and
fail in CI (CI=true), so CI can never pass without having run them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from guide.models import ChangelogEntry, Guide, Version

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "worker: runs a real Celery worker on Redis and PostgreSQL")


def pytest_sessionstart(session: pytest.Session) -> None:
    # CI must exercise PostgreSQL, not quietly fall back to the SQLite default.
    if IN_CI and not os.environ.get("DATABASE_URL", "").startswith(
        ("postgres://", "postgresql://")
    ):
        raise pytest.UsageError("CI=true but DATABASE_URL does not point at PostgreSQL")


def service_unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a service test that did not run must not look green there."""
    if IN_CI:
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


# --- The world ---------------------------------------------------------------------------------------

MLMW_0_9_0 = """# The MLMW guide

Notes on machine learning, with links.

## Beginner track

Start with [MML](https://mml-book.github.io/) for the maths.

## Reference texts

- [Bishop (2006)](https://www.microsoft.com/en-us/research/people/cmbishop/prml-book/)
- [Theano](https://github.com/Theano/Theano)
"""

MLMW_0_10_0 = """# The MLMW guide

Notes on machine learning, with links.

## Beginner track

Start with [MML](https://mml-book.github.io/) for the maths, then [ISLP](https://www.statlearning.com/).

## Reference texts

- [Bishop (2006), Pattern Recognition and Machine Learning](https://www.microsoft.com/en-us/research/people/cmbishop/prml-book/)

## Interviews

> Diffusion feels like it shouldn't work.
"""

MLMW_0_10_1 = MLMW_0_10_0.replace(
    "## Interviews",
    "## Python packages\n\n- [scikit-learn](https://scikit-learn.org/)\n\n## Interviews",
)


@pytest.fixture
def guide(db) -> Guide:
    return Guide.objects.create(
        slug="mlmw",
        title="The MLMW guide",
        description="A collection of topics with links and quotes.",
        telegram_url="https://t.me/mlmw_guide",
        reddit_url="https://www.reddit.com/r/mlmw/",
    )


def make_version(
    guide: Guide, number: str, content: str, *, published_at=None, bump="", entries=()
):
    version = Version.objects.create(
        guide=guide,
        number=number,
        title=f"Release {number}",
        content=content,
        status=Version.Status.PUBLISHED if published_at else Version.Status.DRAFT,
        published_at=published_at,
        bump=bump,
    )
    for order, (kind, text) in enumerate(entries):
        ChangelogEntry.objects.create(version=version, kind=kind, text=text, order=order)
    return version


@pytest.fixture
def v0_9_0(guide: Guide) -> Version:
    return make_version(
        guide,
        "0.9.0",
        MLMW_0_9_0,
        published_at=datetime(2026, 6, 1, 9, tzinfo=UTC),
        bump="major",
        entries=[("added", "First public version with the beginner track.")],
    )


@pytest.fixture
def v0_10_0(v0_9_0: Version) -> Version:
    return make_version(
        v0_9_0.guide,
        "0.10.0",
        MLMW_0_10_0,
        published_at=datetime(2026, 9, 15, 9, tzinfo=UTC),
        bump="minor",
        entries=[
            ("added", "[ISLP](https://www.statlearning.com/) in the beginner track."),
            ("added", "An *Interviews* section."),
            ("removed", "Theano, no longer maintained."),
            ("changed", "Retitled the Bishop link."),
        ],
    )


@pytest.fixture
def draft(v0_10_0: Version) -> Version:
    return make_version(
        v0_10_0.guide,
        "0.10.1",
        MLMW_0_10_1,
        entries=[("added", "A Python packages section with scikit-learn.")],
    )


@pytest.fixture
def editor(db) -> User:
    user = User.objects.create_user("edna", "edna@mlmw.example", "edna-password", is_staff=True)
    user.groups.add(Group.objects.get(name="Editors"))
    return user


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", "root@mlmw.example", "root-password")


# --- Real services -----------------------------------------------------------------------------------


@pytest.fixture
def redis_broker() -> str:
    """The suite's own Redis database (flushed before use), or skip/fail when Redis is down."""
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        service_unavailable(f"Redis at {TEST_REDIS_URL}: {exc}")
    client.flushdb()
    return TEST_REDIS_URL


def _database_url_for_test_db() -> str:
    s = connection.settings_dict
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def celery_worker(transactional_db, redis_broker: str, settings) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process on the real broker and the test PostgreSQL database.

    The test process enqueues through the same broker (eager mode off), so a task goes the whole way:
    on_commit → Redis → worker process → PostgreSQL. Tests wait on the database, never on sleeps.
    """
    if connection.vendor != "postgresql":
        service_unavailable("worker tests need PostgreSQL (set DATABASE_URL)")
    from mlmw.celery import app

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlmw.test_settings",
        "DATABASE_URL": _database_url_for_test_db(),
        "CELERY_BROKER_URL": redis_broker,
        "PYTHONUNBUFFERED": "1",
    }
    settings.CELERY_BROKER_URL = redis_broker
    app.conf.update(broker_url=redis_broker, task_always_eager=False)
    _reset_broker_pools(app)
    # The worker's own log, for reading when a worker test fails: var/test-worker.log.
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "test-worker.log", "ab")  # noqa: SIM115 - closed after the worker
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "mlmw.celery:app", "worker",
            "--concurrency=2", "--pool=prefork", "--loglevel=INFO", "--without-heartbeat",
            "--without-mingle", "--without-gossip", "-n", f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        app.conf.update(broker_url=None, task_always_eager=True)
        _reset_broker_pools(app)


def _reset_broker_pools(app) -> None:
    # Celery caches its connection and producer pools on first use; drop them so the next send uses
    # the broker URL just configured (the suite switches between eager mode and the real broker).
    from kombu import pools

    pools.reset()  # closes and forgets kombu's global connection/producer pools
    app._pool = None
    app.amqp._producer_pool = None


def wait_for(condition, *, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds.

    For waiting on another process (a worker) to reach a state. It asserts nothing about speed: the
    timeout only stops a broken run from hanging.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
