"""A subscribe or access request whose task loses its database connection is retried, not dropped:
the visitor was already told to check their inbox."""

from __future__ import annotations

import pytest
from celery.exceptions import Retry
from django.db import OperationalError

from subscriptions import lifecycle, tasks
from subscriptions.models import Subscriber


def test_a_subscribe_task_that_loses_its_connection_is_retried_and_subscribes(
    guide, monkeypatch, django_capture_on_commit_callbacks
):
    real = lifecycle.subscribe
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("the connection is closed")
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "subscribe", flaky)

    args = ("reader@example.org", [guide.pk], "every", "home")
    # The worker is told to run it again later (not that it failed): Celery's Retry.
    with pytest.raises(Retry):
        tasks.subscribe.apply(args=args)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.subscribe.apply(args=args)  # the retry

    assert len(calls) == 2
    assert Subscriber.objects.get(email="reader@example.org").status == "pending"


@pytest.mark.parametrize(
    "task_name", ["subscriptions.tasks.subscribe", "access.tasks.request_access"]
)
def test_both_form_tasks_retry_on_a_lost_connection(task_name):
    import access.tasks  # noqa: F401 - registers its tasks
    from mlmw.celery import app

    assert OperationalError in app.tasks[task_name].autoretry_for
