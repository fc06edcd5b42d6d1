"""The public forms' requests (subscribe, request access): stored as a queued task, decided by it.

The subscribe and access-request views decide nothing, so they do the same work for every address
(no enumeration): `submit` writes one `process_form_request(kind, payload)` row of the outbox of
one-off tasks (subscriptions.queued_tasks), which publishes it on commit, publishes it again when
its message is lost, and gives up on it after MAIL_TASK_GIVE_UP_HOURS. The task (`process`) decides
the request through its kind's registered handler and deletes its own row in the decision's
transaction (`queued_tasks.finish`), so a redelivered task decides nothing twice; a decision that
fails rolls back and leaves the row. An address stays in the row only until its request is decided.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from guide.models import Guide
from subscriptions import addresses, lifecycle, queued_tasks
from subscriptions.reading import Reading

PROCESS_TASK = "subscriptions.tasks.process_form_request"
SUBSCRIBE = "subscribe"
ACCESS = "access"

Handler = Callable[[dict[str, Any]], None]
_handlers: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    """Decide the requests of `kind` with `handler(payload)`, which must do all its writes in the
    caller's transaction and its mail on commit (as lifecycle.subscribe does)."""
    _handlers[kind] = handler


def submit(kind: str, address: str, payload: dict[str, Any]) -> None:
    """Store a form's request and publish its task on commit: one INSERT and one task, whatever
    the address."""
    queued_tasks.enqueue(PROCESS_TASK, kind, payload, email_key=addresses.key(address))


def process(task_id: str | None, kind: str, payload: dict[str, Any]) -> bool:
    """Decide one request and delete its task's row, in one transaction; False when the row is
    gone (decided already, or erased)."""
    with transaction.atomic():
        if not queued_tasks.finish(task_id):
            return False
        _handlers[kind](payload)
    return True


def subscribe(payload: dict[str, Any]) -> None:
    """The subscribe form's request (subscriptions.views.subscribe)."""
    guide_ids = payload["guide_ids"]
    lifecycle.subscribe(
        payload["address"],
        guides=Guide.objects.filter(pk__in=guide_ids) if guide_ids else (),
        reading=Reading.from_json(payload["reading"]),
        source=payload["source"],
    )


register(SUBSCRIBE, subscribe)
# A subscriber's export lists an undecided request by its kind, without its payload.
queued_tasks.describe(PROCESS_TASK, lambda args: {"form_request": args[0]})
