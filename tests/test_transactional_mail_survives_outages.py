"""A transactional mail (a confirmation, an access grant link) is a row written with the decision
to send it, so neither a broker down at commit, nor an ESP down for longer than the task's retries,
nor a second copy of its task loses it or sends it twice. A real worker (with beat) on Redis and
PostgreSQL, the fake ESP; this process's broker refuses connections while the decision commits."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from access import lifecycle as access
from access.models import AccessRequest
from mlmw.celery import task_named
from subscriptions import lifecycle, queued_tasks
from subscriptions.models import QueuedTask, Subscriber
from tests.esp import esp_worker_env
from tests.services import wait_for
from tests.workers import broker_refusing

ADDRESS = "ann@example.org"
LATER = "bo@example.org"

# Sweeps every second, retries after 1-2 s: the outages below end in seconds.
FAST = {
    "MAIL_TASK_SWEEP_INTERVAL": 1,
    "MAIL_TASK_REQUEUE_AFTER_SECONDS": 1,
    "MAIL_TASK_RETRIES": 1,
}


def confirmation(request, address: str) -> None:
    lifecycle.subscribe(address, guides=[request.getfixturevalue("guide")])


def grant_link(request, address: str) -> None:
    waiting = AccessRequest.objects.create(
        artifact=request.getfixturevalue("topic_list"), email=address, email_key=address,
        status=AccessRequest.Status.PENDING, verified_at=timezone.now(),
    )  # fmt: skip
    access.approve(waiting, by=None)


MAILS = {
    "confirmation": (confirmation, "Confirm your subscription"),
    "grant link": (grant_link, "Your download link"),
}


@pytest.fixture(params=list(MAILS))
def mail_kind(request):
    """Each kind of mail in turn: (how it is decided, its subject)."""
    return MAILS[request.param]


def delivered(fake_esp, address: str) -> None:
    """Wait until `address` has its mail and the task's row is deleted."""
    wait_for(lambda: fake_esp.messages_to(address), what=f"the mail to {address}")
    wait_for(lambda: not QueuedTask.objects.exists(), what="the done task's row to be deleted")


def mailed_once(fake_esp, address: str, subject: str) -> None:
    [message] = fake_esp.messages_to(address)
    assert message.subject.startswith(subject)
    assert fake_esp.duplicate_recipients() == {}


@pytest.mark.worker
def test_a_mail_decided_while_the_broker_is_down_arrives_once_when_it_is_back(
    mail_kind, request, fake_esp, start_worker
):
    decide, subject = mail_kind
    start_worker(concurrency=1, beat=True, **esp_worker_env(fake_esp, **FAST))

    with broker_refusing():
        decide(request, ADDRESS)

    row = QueuedTask.objects.get()  # committed with the decision; its publish failed
    delivered(fake_esp, ADDRESS)
    task_named(row.name).apply_async(task_id=str(row.task_id))  # a redelivered copy
    # The same single worker runs a later mail: once it is out, the copy before it has run.
    decide(request, LATER)
    wait_for(lambda: fake_esp.messages_to(LATER), what="the later mail")
    mailed_once(fake_esp, ADDRESS, subject)


@pytest.mark.worker
def test_an_esp_down_for_longer_than_the_task_retries_still_gets_the_mail_later_once(
    mail_kind, request, fake_esp, start_worker
):
    decide, subject = mail_kind
    # The task tries twice (MAIL_TASK_RETRIES=1) and fails; its row waits, then runs again.
    fake_esp.script([("status", 503)] * 3)
    start_worker(concurrency=1, beat=True, **esp_worker_env(fake_esp, **FAST))

    decide(request, ADDRESS)

    waiting = wait_for(
        lambda: QueuedTask.objects.filter(attempts__gte=1).first(),
        what="the task's row waiting after its retries",
    )
    assert "503" in waiting.last_error
    delivered(fake_esp, ADDRESS)
    assert [a.status for a in fake_esp.attempts] == [503, 503, 503, 200]
    mailed_once(fake_esp, ADDRESS, subject)


@pytest.mark.worker
def test_a_second_copy_of_a_queued_mail_task_sends_nothing_more(
    mail_kind, request, fake_esp, start_worker
):
    decide, subject = mail_kind
    decide(request, ADDRESS)  # its task waits in the queue: no worker yet
    # The sweeper finds it due and publishes it again, with the same task id.
    QueuedTask.objects.update(available_at=timezone.now())
    assert len(queued_tasks.sweep()) == 1

    start_worker(concurrency=2, **esp_worker_env(fake_esp))

    delivered(fake_esp, ADDRESS)
    decide(request, LATER)
    delivered(fake_esp, LATER)
    mailed_once(fake_esp, ADDRESS, subject)


def test_in_process_the_mail_is_sent_at_commit_and_leaves_no_row(
    guide, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.subscribe(ADDRESS, guides=[guide])

    [message] = mail.outbox
    assert message.to == [ADDRESS]
    assert message.subject.startswith("Confirm your subscription")
    assert not QueuedTask.objects.exists()


def test_a_mail_not_yet_sent_is_in_the_export_and_gone_with_erasure(
    guide, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        lifecycle.subscribe(ADDRESS, guides=[guide])
    ann = Subscriber.objects.get(email=ADDRESS)

    [queued] = lifecycle.export_data(ann)["queued"]
    assert queued["mail"] == "confirmation"
    lifecycle.erase(ann, how="test")

    assert not QueuedTask.objects.exists()


def test_a_mail_that_could_not_go_out_for_MAIL_TASK_GIVE_UP_HOURS_is_dropped_with_an_error(
    guide, settings, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=False):
        lifecycle.subscribe(ADDRESS, guides=[guide])
    old = timezone.now() - timedelta(hours=settings.MAIL_TASK_GIVE_UP_HOURS, minutes=1)
    QueuedTask.objects.update(created_at=old, available_at=old)

    with caplog.at_level(logging.ERROR, logger="subscriptions.queued_tasks"):
        assert queued_tasks.sweep() == []

    assert not QueuedTask.objects.exists()
    assert mail.outbox == []
    assert "send_confirmation" in caplog.text and "given up" in caplog.text


def test_a_mail_task_queued_with_its_arguments_and_no_row_is_still_sent(
    guide, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        lifecycle.subscribe(ADDRESS, guides=[guide])
    ann = Subscriber.objects.get(email=ADDRESS)
    QueuedTask.objects.all().delete()  # as queued by a release before the outbox: no row
    message_id = str(uuid.uuid4())

    task_named("subscriptions.tasks.send_confirmation").apply(
        (ann.pk, ann.confirm_nonce), task_id=message_id
    )

    [message] = mail.outbox
    assert message.to == [ADDRESS]
    assert not QueuedTask.objects.exists()  # adopted as a row, done, deleted
