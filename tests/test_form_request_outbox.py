"""The public forms' requests go through the outbox of one-off tasks (subscriptions.form_requests,
subscriptions.queued_tasks): every valid subscribe or access-request submission is stored as one
queued task with the answer, alike for every address; the task decides it and deletes its row in one
transaction, so a redelivered task decides nothing twice; a task whose message was lost is published
again by the sweep; a request that cannot be decided for MAIL_TASK_GIVE_UP_HOURS is dropped with an
error; bad input stores nothing; erasure deletes an address's undecided requests and the export lists
them."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from access import lifecycle as access_lifecycle
from access import privacy
from access.models import AccessRequest
from mlmw.celery import task_named
from subscriptions import form_requests, lifecycle, queued_tasks, tasks
from subscriptions.models import QueuedTask, Subscriber
from tests.conftest import make_subscribers

ADDRESS = "ann@example.org"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture(params=["subscribe", "access"])
def form(request) -> tuple[str, str, str]:
    """(the form's URL, the kind of request it stores, the subject its mail starts with)."""
    if request.param == "subscribe":
        request.getfixturevalue("guide")
        return "/subscribe/", form_requests.SUBSCRIBE, "Confirm your subscription"
    artifact = request.getfixturevalue("topic_list")
    return artifact.get_request_url(), form_requests.ACCESS, "Verify your request"


def post_uncommitted(client, on_commit, url: str, data: dict, **extra):
    """The submission as the view answers it, its task not run yet (as if the broker lost it)."""
    with on_commit(execute=False):
        return client.post(url, data, **extra)


def run_copy(row: QueuedTask, on_commit) -> None:
    """One copy of the row's task, as the worker runs a message with the row's task id."""
    with on_commit(execute=True):
        task_named(row.name).apply(task_id=str(row.task_id))


def test_a_submission_is_stored_before_its_task_and_decided_once(
    form, client, django_capture_on_commit_callbacks, mailoutbox
):
    url, kind, subject = form
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = client.post(url, {"email": ADDRESS})

    assert answer.status_code in (200, 303)
    stored = QueuedTask.objects.get()
    kind_stored, payload = stored.args
    assert (kind_stored, stored.email_key, payload["address"]) == (kind, ADDRESS, ADDRESS)
    assert mailoutbox == []
    [publish] = callbacks
    with django_capture_on_commit_callbacks(execute=True):
        publish()

    assert not QueuedTask.objects.exists()  # the address stays only until it is decided and mailed
    assert [(m.to, m.subject.startswith(subject)) for m in mailoutbox] == [([ADDRESS], True)]


def test_a_redelivered_task_finds_nothing_and_sends_nothing_twice(
    form, client, django_capture_on_commit_callbacks, mailoutbox
):
    url, _kind, _subject = form
    post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": ADDRESS})
    stored = QueuedTask.objects.get()

    run_copy(stored, django_capture_on_commit_callbacks)
    run_copy(stored, django_capture_on_commit_callbacks)

    assert [m.to for m in mailoutbox] == [[ADDRESS]]
    assert not QueuedTask.objects.exists()


def test_the_sweep_publishes_a_request_whose_task_was_lost(
    form, client, django_capture_on_commit_callbacks, mailoutbox
):
    url, _kind, _subject = form
    post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": ADDRESS})

    assert queued_tasks.sweep() == []  # its task may still be on its way
    QueuedTask.objects.update(available_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep_queued_tasks.apply()  # beat's task: publishes it, here run in-process

    assert not QueuedTask.objects.exists()
    assert [m.to for m in mailoutbox] == [[ADDRESS]]


def test_a_request_that_cannot_be_decided_for_MAIL_TASK_GIVE_UP_HOURS_is_dropped_with_an_error(
    form, client, settings, monkeypatch, django_capture_on_commit_callbacks, mailoutbox, caplog
):
    url, _kind, _subject = form

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the decision")

    monkeypatch.setattr(lifecycle, "subscribe", broken)
    monkeypatch.setattr(access_lifecycle, "request_access", broken)
    post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": ADDRESS})
    stored = QueuedTask.objects.get()
    with pytest.raises(RuntimeError):
        run_copy(stored, django_capture_on_commit_callbacks)
    waiting = QueuedTask.objects.get()  # kept, to be tried again after a backoff
    assert (waiting.attempts, waiting.last_error) == (1, "RuntimeError: a bug in the decision")

    old = timezone.now() - timedelta(hours=settings.MAIL_TASK_GIVE_UP_HOURS, minutes=1)
    QueuedTask.objects.update(created_at=old, available_at=old)
    with caplog.at_level(logging.ERROR, logger="subscriptions.queued_tasks"):
        assert queued_tasks.sweep() == []

    assert not QueuedTask.objects.exists()
    assert "process_form_request" in caplog.text and "given up" in caplog.text
    assert "a bug in the decision" in caplog.text
    assert mailoutbox == []


@pytest.mark.parametrize(
    "data", [{"email": "Ann <ann@example.org>"}, {"email": ""}, {"email": "not an address"}]
)
def test_bad_input_is_answered_400_and_stores_nothing(
    form, data, client, django_capture_on_commit_callbacks
):
    url, _kind, _subject = form
    answer = post_uncommitted(client, django_capture_on_commit_callbacks, url, data)

    assert answer.status_code == 400
    assert not QueuedTask.objects.exists()


def test_a_filled_honeypot_stores_nothing(form, client, django_capture_on_commit_callbacks):
    url, _kind, _subject = form
    data = {"email": ADDRESS, "website": "https://cheap-pills.example"}
    post_uncommitted(client, django_capture_on_commit_callbacks, url, data)

    assert not QueuedTask.objects.exists()


def test_the_row_is_the_same_for_a_new_and_a_subscribed_address(
    form, guide, client, django_capture_on_commit_callbacks
):
    url, _kind, _subject = form
    [subscribed] = make_subscribers(guide, "subscribed", 1)
    for address in ("new@example.org", subscribed.email):
        post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": address})

    new, known = QueuedTask.objects.order_by("pk").values("name", "args", "email_key")
    (new_kind, new_payload), (known_kind, known_payload) = new["args"], known["args"]
    assert (new["name"], new_kind) == (known["name"], known_kind)
    assert {**new_payload, "address": "-"} == {**known_payload, "address": "-"}
    assert (new["email_key"], known["email_key"]) == ("new@example.org", subscribed.email)


def test_erasing_a_subscriber_deletes_their_requests_not_yet_decided(
    form, guide, client, django_capture_on_commit_callbacks, mailoutbox
):
    url, _kind, _subject = form
    [subscriber] = make_subscribers(guide, "ann", 1)
    post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": subscriber.email})
    post_uncommitted(
        client, django_capture_on_commit_callbacks, url, {"email": "other@example.org"}
    )
    stored = QueuedTask.objects.get(email_key=subscriber.email)

    lifecycle.erase(subscriber, how="test")

    assert list(QueuedTask.objects.values_list("email_key", flat=True)) == ["other@example.org"]
    run_copy(stored, django_capture_on_commit_callbacks)  # its lost task turns up: nothing to do
    assert mailoutbox == []


def test_a_request_erased_while_its_task_starts_is_not_decided(
    form, client, django_capture_on_commit_callbacks, mailoutbox
):
    url, _kind, _subject = form
    post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": ADDRESS})
    stored = QueuedTask.objects.get()
    assert queued_tasks.claim(str(stored.task_id))  # a copy of its task has taken the row

    privacy.erase(ADDRESS)  # before that copy decides
    with django_capture_on_commit_callbacks(execute=True):
        decided = form_requests.process(str(stored.task_id), *stored.args)

    assert decided is False
    assert mailoutbox == []
    assert not Subscriber.objects.exists() and not AccessRequest.objects.exists()


def test_erasure_through_an_access_data_link_deletes_the_requests_not_yet_decided(
    form, client, django_capture_on_commit_callbacks
):
    url, _kind, _subject = form
    post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": ADDRESS})

    privacy.erase(ADDRESS)  # what "Erase my data" on the access data page runs for a non-subscriber

    assert not QueuedTask.objects.exists()
    assert not Subscriber.objects.exists()


def test_a_subscribers_export_lists_their_requests_not_yet_decided_by_kind(
    form, guide, client, django_capture_on_commit_callbacks
):
    url, kind, _subject = form
    [subscriber] = make_subscribers(guide, "ann", 1)
    post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": subscriber.email})

    [listed] = lifecycle.export_data(subscriber)["queued"]

    assert set(listed) == {"form_request", "queued_at"}
    assert listed["form_request"] == kind
