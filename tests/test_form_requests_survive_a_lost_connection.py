"""A subscribe or access request whose task loses its database connection is retried, not dropped:
the visitor was already told to check their inbox. The stored request stays until a decision
commits, so the retry (or the sweeper) decides it."""

from __future__ import annotations

import pytest
from celery.exceptions import Retry
from django.db import OperationalError

from mlmw.celery import task_named
from subscriptions import form_requests, lifecycle
from subscriptions.models import QueuedTask, Subscriber
from subscriptions.reading import Reading


def test_a_form_request_whose_task_loses_its_connection_is_retried_and_subscribes(
    guide, client, monkeypatch, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/subscribe/", {"email": "reader@example.org"})  # its task not run yet
    stored = QueuedTask.objects.get()
    task = task_named(stored.name)
    real = lifecycle.subscribe
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("the connection is closed")
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "subscribe", flaky)

    # The worker is told to run it again later (not that it failed): Celery's Retry.
    with pytest.raises(Retry):
        task.apply(task_id=str(stored.task_id))
    assert QueuedTask.objects.filter(pk=stored.pk).exists()  # nothing decided, nothing lost
    with django_capture_on_commit_callbacks(execute=True):
        task.apply(task_id=str(stored.task_id))  # the retry

    assert len(calls) == 2
    assert Subscriber.objects.get(email="reader@example.org").status == "pending"
    assert not QueuedTask.objects.exists()
    assert [m.to for m in mailoutbox] == [["reader@example.org"]]


def test_a_decision_that_fails_leaves_the_request_for_the_sweeper(
    guide, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        form_requests.submit(
            form_requests.SUBSCRIBE,
            "reader@example.org",
            {
                "address": "reader@example.org",
                "guide_ids": [],
                "reading": Reading(cadence="every").to_json(),
                "source": "form",
            },
        )
    stored = QueuedTask.objects.get()

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the decision")

    monkeypatch.setattr(lifecycle, "subscribe", broken)
    with pytest.raises(RuntimeError):
        task_named(stored.name).apply(task_id=str(stored.task_id))

    assert QueuedTask.objects.get(pk=stored.pk).attempts == 1  # waits out a backoff, then again
    assert not Subscriber.objects.exists()


def test_the_form_task_retries_on_a_lost_connection():
    assert OperationalError in task_named(form_requests.PROCESS_TASK).autoretry_for
