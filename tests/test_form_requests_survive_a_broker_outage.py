"""A visitor's form submission is never lost to a broker outage: the subscribe and access-request
forms store it as a queued task with the answer, and the sweeper run by beat publishes it again once
the broker is back. A real worker (with beat) on Redis and PostgreSQL, the fake ESP; this process's
broker refuses connections while the visitor submits."""

from __future__ import annotations

import pytest

from mlmw.celery import task_named
from subscriptions.models import QueuedTask
from tests.esp import esp_worker_env
from tests.services import wait_for
from tests.workers import broker_refusing

pytestmark = [pytest.mark.worker]

ADDRESS = "ann@example.org"
LATER = "bo@example.org"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


def subscribe_url(request) -> str:
    request.getfixturevalue("guide")
    return "/subscribe/"


def access_url(request) -> str:
    return request.getfixturevalue("topic_list").get_request_url()


FORMS = {
    "subscribe": (subscribe_url, "Confirm your subscription"),
    "access": (access_url, "Verify"),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_a_form_sent_while_the_broker_is_down_is_mailed_once_when_it_is_back(
    form, request, fake_esp, start_worker, client
):
    url_of, subject = FORMS[form]
    url = url_of(request)
    start_worker(
        concurrency=1, beat=True,
        **esp_worker_env(fake_esp, MAIL_TASK_SWEEP_INTERVAL=1, MAIL_TASK_REQUEUE_AFTER_SECONDS=1),
    )  # fmt: skip

    with broker_refusing():
        answer = client.post(url, {"email": ADDRESS})

    assert answer.status_code in (200, 303)  # the visitor is told to check their inbox
    stored = QueuedTask.objects.get()  # its task never reached the broker
    wait_for(lambda: fake_esp.messages_to(ADDRESS), what="the mail of the stored request")
    wait_for(lambda: not QueuedTask.objects.exists(), what="the decided request to be deleted")
    # A redelivered copy of its task.
    task_named(stored.name).apply_async(task_id=str(stored.task_id))
    # A later request goes through the same single worker: once it is mailed, everything queued
    # before it (the redelivered task, the sweeps of beat) has run.
    client.post(url, {"email": LATER}, REMOTE_ADDR="198.51.100.7")
    wait_for(lambda: fake_esp.messages_to(LATER), what="the later request's mail")
    [mail] = fake_esp.messages_to(ADDRESS)
    assert mail.subject.startswith(subject)
    assert fake_esp.duplicate_recipients() == {}
