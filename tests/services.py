"""The real services some tests need, and waiting on another process.

Where PostgreSQL or Redis cannot be reached, a test that needs it skips locally and fails in CI
(CI=true), so CI can never pass without having run it.
"""

from __future__ import annotations

import os
import time

import pytest
import redis

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def service_unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a service test that did not run must not look green there."""
    if IN_CI:
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def redis_broker() -> str:
    """The suite's own Redis database (flushed before use), or skip/fail when Redis is down."""
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        service_unavailable(f"Redis at {TEST_REDIS_URL}: {exc}")
    client.flushdb()
    return TEST_REDIS_URL


def wait_for(condition, *, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds.

    For waiting on another process (a worker) to reach a state. It asserts nothing about speed: the
    timeout only stops a broken run from hanging.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
