"""The broker never holds a visitor's address: a form's answer and a mail's ids stay in their
queued task's row, where erasure reaches them, and the message on Redis names only that row's task
id, a retry's message too. Real Redis and PostgreSQL; the first tests start no worker, so the
messages wait on the broker to be read; the last watches every command a worker sends Redis."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from contextlib import contextmanager

import pytest
import redis

from subscriptions import lifecycle
from subscriptions.models import QueuedTask, Subscriber
from tests.esp import esp_worker_env
from tests.services import TEST_REDIS_URL, service_unavailable, wait_for

pytestmark = [pytest.mark.worker]

QUEUE = "mlmw"  # CELERY_TASK_DEFAULT_QUEUE
ADDRESS = "ann@example.org"


@pytest.fixture
def broker(start_worker, clear_cache):
    """The real broker, with no worker started: this process publishes to it (eager mode off)."""
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


def waiting(broker) -> list[dict]:
    """The messages on the queue, each body decoded (Celery's protocol 2: [args, kwargs, embed])."""
    messages = [json.loads(raw) for raw in broker.lrange(QUEUE, 0, -1)]
    for message in messages:
        message["body"] = json.loads(base64.b64decode(message["body"]))
    return messages


def test_a_subscribe_forms_message_carries_its_task_id_and_no_address(broker, client, guide):
    client.post("/subscribe/", {"email": ADDRESS})

    [message] = waiting(broker)
    [row] = QueuedTask.objects.all()
    assert message["headers"]["id"] == str(row.task_id)
    assert message["body"][:2] == [[], {}]
    assert ADDRESS not in json.dumps(message)
    assert ADDRESS in json.dumps(row.args)  # the answer is in the row alone


def test_a_confirmation_mails_message_carries_no_id_or_nonce_of_the_reader(broker, guide):
    lifecycle.subscribe(ADDRESS, guides=[guide])

    [message] = waiting(broker)
    ann = Subscriber.objects.get(email=ADDRESS)
    [row] = QueuedTask.objects.all()
    assert row.args == [ann.pk, ann.confirm_nonce]
    assert message["headers"]["id"] == str(row.task_id)
    assert message["body"][:2] == [[], {}]
    assert ann.confirm_nonce not in json.dumps(message)


@contextmanager
def redis_commands(into: list[str]):
    """Every command sent to the suite's Redis database meanwhile (MONITOR), with each Celery
    message's base64 body decoded beside it, appended to `into` at the end."""
    redis_cli = shutil.which("redis-cli")
    if redis_cli is None:
        service_unavailable("redis-cli (Redis's client) is not on PATH")
    db = TEST_REDIS_URL.rsplit("/", 1)[1] or "0"
    monitor = subprocess.Popen(
        [redis_cli, "-u", TEST_REDIS_URL, "monitor"], stdout=subprocess.PIPE, text=True
    )
    try:
        yield
    finally:
        monitor.terminate()
        seen = [line for line in monitor.communicate()[0].splitlines() if f"[{db} " in line]
        bodies = re.findall(r'\\"body\\": \\"([A-Za-z0-9+/=]+)\\"', "\n".join(seen))
        into += seen + [base64.b64decode(body).decode() for body in bodies]


def test_a_confirmation_retried_after_an_esp_error_puts_no_address_or_nonce_on_redis(
    broker, start_worker, client, guide, fake_esp
):
    fake_esp.script([("status", 503)])  # the first send fails: the task retries
    seen: list[str] = []
    with redis_commands(seen):
        start_worker(concurrency=1, **esp_worker_env(fake_esp))
        client.post("/subscribe/", {"email": ADDRESS})
        wait_for(lambda: fake_esp.messages_to(ADDRESS), what="the confirmation")
        wait_for(lambda: not QueuedTask.objects.exists(), what="the done tasks' rows to go")

    assert [attempt.status for attempt in fake_esp.attempts] == [503, 200]
    ann = Subscriber.objects.get(email=ADDRESS)
    assert any("LPUSH" in line or "ZADD" in line for line in seen)  # the messages were seen
    assert not [line for line in seen if ADDRESS in line or ann.confirm_nonce in line]
