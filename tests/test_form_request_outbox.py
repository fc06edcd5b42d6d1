"""The public forms' outbox (subscriptions.form_requests): every valid subscribe or access-request
submission is stored as one row with the answer, alike for every address; its task decides it and
deletes it in one transaction, so a redelivered task sends nothing twice; a row whose task was lost is
enqueued again by the sweep; bad input stores nothing; erasure deletes an address's pending rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from access import privacy
from subscriptions import form_requests, lifecycle, tasks
from subscriptions.models import FormRequest, Subscriber
from tests.conftest import make_subscribers

ADDRESS = "ann@example.org"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture(params=["subscribe", "access"])
def form(request) -> tuple[str, str, str]:
    """(the form's URL, the kind of row it stores, the subject its mail starts with)."""
    if request.param == "subscribe":
        request.getfixturevalue("guide")
        return "/subscribe/", FormRequest.Kind.SUBSCRIBE, "Confirm your subscription"
    artifact = request.getfixturevalue("topic_list")
    return artifact.get_request_url(), FormRequest.Kind.ACCESS, "Verify your request"


def post_uncommitted(client, on_commit, url: str, data: dict, **extra):
    """The submission as the view answers it, its task not run yet (as if the broker lost it)."""
    with on_commit(execute=False):
        return client.post(url, data, **extra)


def test_a_submission_is_stored_before_its_task_and_decided_once(
    form, client, django_capture_on_commit_callbacks, mailoutbox
):
    url, kind, subject = form
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = client.post(url, {"email": ADDRESS})

    assert answer.status_code in (200, 303)
    stored = FormRequest.objects.get()
    assert (stored.kind, stored.email_key, stored.payload["address"]) == (kind, ADDRESS, ADDRESS)
    assert mailoutbox == []
    [enqueue] = callbacks
    with django_capture_on_commit_callbacks(execute=True):
        enqueue()

    assert not FormRequest.objects.exists()  # the address stays only until it is decided
    assert [(m.to, m.subject.startswith(subject)) for m in mailoutbox] == [([ADDRESS], True)]


def test_a_redelivered_task_finds_nothing_and_sends_nothing_twice(
    form, client, django_capture_on_commit_callbacks, mailoutbox
):
    url, _kind, _subject = form
    post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": ADDRESS})
    stored = FormRequest.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        first = tasks.process_form_request.apply(args=[stored.pk]).get()
    with django_capture_on_commit_callbacks(execute=True):
        again = tasks.process_form_request.apply(args=[stored.pk]).get()

    assert (first, again) == (True, False)
    assert [m.to for m in mailoutbox] == [[ADDRESS]]


def test_the_sweep_enqueues_a_request_whose_task_was_lost_once_per_delay(
    form, client, django_capture_on_commit_callbacks, mailoutbox
):
    url, _kind, _subject = form
    post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": ADDRESS})
    stored = FormRequest.objects.get()
    delay = timedelta(seconds=django_settings.FORM_REQUEUE_AFTER_SECONDS + 1)
    later = timezone.now() + delay

    assert form_requests.sweep() == []  # its task may still be on its way
    assert form_requests.sweep(now=later) == [stored.pk]
    assert form_requests.sweep(now=later) == []  # just enqueued again: not at every sweep
    assert form_requests.sweep(now=later + delay) == [stored.pk]

    FormRequest.objects.update(enqueued_at=timezone.now() - delay)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep_form_requests.apply()  # beat's task: enqueues it, here run in-process
    assert not FormRequest.objects.exists()
    assert [m.to for m in mailoutbox] == [[ADDRESS]]


def test_the_sweeper_is_on_beats_schedule(settings):
    from mlmw.celery import task_named

    entry = settings.CELERY_BEAT_SCHEDULE["sweep-form-requests"]
    assert task_named(entry["task"]).name == tasks.sweep_form_requests.name
    assert entry["schedule"] == 30  # FORM_SWEEP_INTERVAL's default


@pytest.mark.parametrize(
    "data", [{"email": "Ann <ann@example.org>"}, {"email": ""}, {"email": "not an address"}]
)
def test_bad_input_is_answered_400_and_stores_nothing(
    form, data, client, django_capture_on_commit_callbacks
):
    url, _kind, _subject = form
    answer = post_uncommitted(client, django_capture_on_commit_callbacks, url, data)

    assert answer.status_code == 400
    assert not FormRequest.objects.exists()


def test_a_filled_honeypot_stores_nothing(form, client, django_capture_on_commit_callbacks):
    url, _kind, _subject = form
    data = {"email": ADDRESS, "website": "https://cheap-pills.example"}
    post_uncommitted(client, django_capture_on_commit_callbacks, url, data)

    assert not FormRequest.objects.exists()


def test_the_row_is_the_same_for_a_new_and_a_subscribed_address(
    form, guide, client, django_capture_on_commit_callbacks
):
    url, _kind, _subject = form
    [subscribed] = make_subscribers(guide, "subscribed", 1)
    for address in ("new@example.org", subscribed.email):
        post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": address})

    new, known = FormRequest.objects.order_by("pk").values("kind", "email_key", "payload")
    assert new["kind"] == known["kind"]
    assert {**new["payload"], "address": "-"} == {**known["payload"], "address": "-"}
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
    stored = FormRequest.objects.get(email_key=subscriber.email)

    lifecycle.erase(subscriber, how="test")

    assert list(FormRequest.objects.values_list("email_key", flat=True)) == ["other@example.org"]
    with django_capture_on_commit_callbacks(execute=True):
        assert form_requests.process(stored.pk) is False  # its lost task turns up: nothing to do
    assert mailoutbox == []


def test_erasure_through_an_access_data_link_deletes_the_requests_not_yet_decided(
    form, client, django_capture_on_commit_callbacks
):
    url, _kind, _subject = form
    post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": ADDRESS})

    privacy.erase(ADDRESS)  # what "Erase my data" on the access data page runs for a non-subscriber

    assert not FormRequest.objects.exists()
    assert not Subscriber.objects.exists()


def test_a_subscribers_export_lists_their_requests_not_yet_decided(
    form, guide, client, django_capture_on_commit_callbacks
):
    url, kind, _subject = form
    [subscriber] = make_subscribers(guide, "ann", 1)
    post_uncommitted(client, django_capture_on_commit_callbacks, url, {"email": subscriber.email})

    [listed] = lifecycle.export_data(subscriber)["form_requests"]

    assert listed["kind"] == kind
