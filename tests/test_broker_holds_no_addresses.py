"""The broker never holds a visitor's address: a form's answer and a mail's ids stay in their
queued task's row, where erasure reaches them, and the message on Redis names only that row's task
id. Real Redis and PostgreSQL; no worker, so the messages wait on the broker to be read."""

from __future__ import annotations

import base64
import json

import pytest
import redis

from subscriptions import lifecycle
from subscriptions.models import QueuedTask, Subscriber
from tests.services import TEST_REDIS_URL

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
