"""The public forms' outbox: a visitor's submission is a row before it is a task.

The subscribe and access-request views decide nothing, so they do the same work for every address
(no enumeration): they store the submission (`submit`) and enqueue its id on commit. The task
(`process`) decides it and deletes its row in one transaction, so a redelivered task finds nothing to
do. A row whose task never ran (the broker refused the publish, or lost the message) is enqueued
again by `sweep`, which beat runs; an address stays here only until its request is decided.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from guide.models import Guide
from mlmw.celery import enqueue
from subscriptions import addresses, lifecycle
from subscriptions.models import FormRequest
from subscriptions.reading import Reading

PROCESS_TASK = "subscriptions.tasks.process_form_request"
# Rows a sweep enqueues at most; the rest wait for the next sweep (after a long outage).
SWEEP_LIMIT = 1000

Handler = Callable[[dict[str, Any]], None]
_handlers: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    """Decide the requests of `kind` with `handler(payload)`, which must do all its writes in the
    caller's transaction and its mail on commit (as lifecycle.subscribe does)."""
    _handlers[kind] = handler


def submit(kind: str, address: str, payload: dict[str, Any]) -> None:
    """Store a form's request and enqueue its decision on commit: one INSERT and one task, whatever
    the address."""
    request = FormRequest.objects.create(
        kind=kind, email_key=addresses.key(address), payload=payload
    )
    enqueue(PROCESS_TASK, request.pk)


def process(request_id: int) -> bool:
    """Decide one request and delete it, in one transaction; False when there is none to decide
    (decided already, erased, or being decided by another worker right now).

    If deciding fails the row stays (rolled back) and is tried again: by the task's retry on a lost
    database connection, else by the sweeper."""
    with transaction.atomic():
        request = (
            FormRequest.objects.select_for_update(skip_locked=True).filter(pk=request_id).first()
        )
        if request is None:
            return False
        _handlers[request.kind](request.payload)
        request.delete()
    return True


def sweep(now=None) -> list[int]:
    """The requests whose task was enqueued FORM_REQUEUE_AFTER_SECONDS ago and has not decided them,
    marked enqueued now: the ids to enqueue again."""
    now = now or timezone.now()
    due = now - timedelta(seconds=settings.FORM_REQUEUE_AFTER_SECONDS)
    lost = list(
        FormRequest.objects.filter(enqueued_at__lt=due)
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    FormRequest.objects.filter(pk__in=lost).update(enqueued_at=now)
    return lost


def subscribe(payload: dict[str, Any]) -> None:
    """The subscribe form's request (subscriptions.views.subscribe)."""
    guide_ids = payload["guide_ids"]
    lifecycle.subscribe(
        payload["address"],
        guides=Guide.objects.filter(pk__in=guide_ids) if guide_ids else (),
        reading=Reading.from_json(payload["reading"]),
        source=payload["source"],
    )


register(FormRequest.Kind.SUBSCRIBE, subscribe)


# --- Personal data (registered with subscriptions.lifecycle: export and erasure) --------------------


def export(email_key: str) -> list[dict[str, Any]]:
    return [
        {"kind": kind, "received_at": created_at.isoformat()}
        for kind, created_at in FormRequest.objects.filter(email_key=email_key)
        .order_by("pk")
        .values_list("kind", "created_at")
    ]


def erase(email_key: str) -> int:
    deleted, _ = FormRequest.objects.filter(email_key=email_key).delete()
    return deleted
