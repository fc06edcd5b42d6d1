"""The outbox of one-off tasks: a one-mail task (confirmation, welcome, access links) or a public
form's submission (subscriptions.form_requests) is a row before it is a Celery message, so neither a
broker outage nor a long ESP outage loses it.

- `enqueue(name, *args, email_key=)`: writes the task's `QueuedTask` row in the caller's transaction
  and publishes its message on commit: the row's task_id and nothing else. The arguments (ids,
  nonces, a form's answer with its address) stay in the row, where erasure reaches them; the broker
  never holds personal data.
- `Queued`: the Celery base class of those tasks. A copy claims the row before running (a
  conditional UPDATE with a lease), so a copy whose row is gone (done) or claimed by another
  copy does nothing; the row is deleted when the task returns (sent, or refused for good and
  logged), handed back on a retry, and kept after the last retry with a backoff.
- `sweep()`: beat publishes again, with the same task_id, the rows that are due (their message
  lost, their lease run out, their backoff over), and gives up on those older than
  MAIL_TASK_GIVE_UP_HOURS (an error in the log).
- `fan_out(task_id, name, arg_lists)`: a queued task that enqueues others (an import's chunk of
  confirmations) swaps its row for theirs in one transaction, so a rerun enqueues nothing twice.
- `finish(task_id)`: a queued task whose work is a transaction (deciding a form request) deletes
  its row in that transaction, so the work commits exactly once.

At least once: a crash between the ESP's acceptance and the row's deletion sends the mail again
once the lease runs out (docs/delivery.md, "Subscriber mail").
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from celery import Task
from celery.exceptions import Retry
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mlmw import logs
from mlmw.celery import DATABASE_ERRORS, heal_database_connections, task_named
from subscriptions.delivery import backoff
from subscriptions.models import QueuedTask
from subscriptions.sending import scrub

logger = logging.getLogger(__name__)

# Rows a sweep publishes at most; the rest wait for the next sweep (after a long outage).
SWEEP_LIMIT = 1000


def enqueue(name: str, *args: Any, email_key: str) -> None:
    """Write task `name(*args)` as a row in the current transaction and publish it on commit.

    `email_key` is the address key of whom it mails (subscriptions.addresses.key), for erasure.
    A publish that fails (the broker is down) is logged and left to the sweeper."""
    task = task_named(name)  # a wrong name fails here, in the caller's transaction
    row = QueuedTask.objects.create(
        name=name, args=list(args), email_key=email_key, available_at=_requeue_at()
    )
    task_id = str(row.task_id)
    transaction.on_commit(lambda: task.apply_async(task_id=task_id), robust=True)


def fan_out(task_id: str | None, name: str, arg_lists: Sequence[tuple[Sequence[Any], str]]) -> bool:
    """In one transaction, delete the row of the running queued task `task_id` and enqueue
    `name(*args)` for each (args, email_key) of `arg_lists`. False (nothing enqueued) when the row
    is gone: a copy that ran before did it. `task_id` None (called as a function): no row to swap."""
    with transaction.atomic():
        if task_id is not None and not QueuedTask.objects.filter(task_id=task_id).delete()[0]:
            return False
        task = task_named(name)
        rows = QueuedTask.objects.bulk_create(
            QueuedTask(name=name, args=list(args), email_key=key, available_at=_requeue_at())
            for args, key in arg_lists
        )
        published = [str(row.task_id) for row in rows]

        def publish() -> None:
            for row_id in published:
                task.apply_async(task_id=row_id)

        transaction.on_commit(publish, robust=True)
    return True


def finish(task_id: str | None) -> bool:
    """Delete the row of the running queued task `task_id` in the caller's transaction, which must
    hold the task's work: False (do nothing) when the row is gone, because a copy that ran before
    committed that work, or the row was erased. The row stays locked until the caller's commit, so
    no other copy finishes it meanwhile. `task_id` None (called as a function): no row, True."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("queued_tasks.finish must run in the transaction of the task's work")
    return task_id is None or bool(QueuedTask.objects.filter(task_id=task_id).delete()[0])


class Queued(Task):
    """The base class of the tasks `enqueue` writes (shared_task(base=Queued, …)).

    Runs in the worker and in-process (CELERY_TASK_ALWAYS_EAGER) alike, with the arguments its
    row holds (a message carries only the task id). Called as a plain function (no task id), the
    task runs with the arguments given, without a row."""

    # A message carries no arguments (they are read from the row): Celery must not check them.
    typing = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task_id = self.request.id
        if task_id is None:
            return super().__call__(*args, **kwargs)
        try:
            row_args = claim(task_id)
            if row_args is None and (args or kwargs) and adopt(self.name, task_id, args):
                row_args = claim(task_id)
        except DATABASE_ERRORS as exc:
            # Nothing claimed, so nothing to hand back: the retry (or the sweeper) runs it.
            raise super().retry(args=(), kwargs={}, exc=exc) from exc
        if row_args is None:
            logger.info("%s %s: done or running elsewhere; nothing to do", self.name, task_id)
            return None
        try:
            # The message carried no arguments, so the log context names the row's ids now.
            with logs.bind(**logs.task_fields(self, row_args, None)):
                result = super().__call__(*row_args)
        except Retry:
            raise  # the row was handed back in retry()
        except Exception as exc:
            give_back(task_id, exc)
            raise
        done(task_id)
        return result

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Any:
        request = self.request
        if request.id is not None:
            # The retry's message names the row alone too (Celery would copy the running
            # arguments, read from the row, into it).
            args, kwargs = (), {}
            limit = self.max_retries if max_retries is None else max_retries
            if limit is None or request.retries < limit:
                # Handed back before the retry's message is published, so that copy finds it
                # unclaimed. Not when the retries are used up: give_back keeps the row then, and
                # a copy that claimed it in between would lose its claim.
                hand_back(self, countdown or 0)
        return super().retry(
            args=args, kwargs=kwargs, exc=exc, countdown=countdown, max_retries=max_retries,
            **options,
        )  # fmt: skip


def adopt(name: str, task_id: str, args: Sequence[Any]) -> bool:
    """Write the row of a message that carries its arguments and has none: one published without
    `enqueue` (by a release before this outbox, still in the queue; by hand with .delay()), so it
    runs once, as any other. False when the task id is not a row's (not a UUID) or its row exists."""
    try:
        key = uuid.UUID(task_id)
    except ValueError:
        return False
    _, created = QueuedTask.objects.get_or_create(
        task_id=key,
        defaults={"name": name, "args": list(args), "email_key": "", "available_at": _requeue_at()},
    )
    if created:
        logger.warning("%s %s: a message with its arguments, adopted as a row", name, task_id)
    return created


def hand_back(task: Task, countdown: float) -> None:
    """Release the running task's row for its retry in `countdown` seconds, on a working
    connection: the error that caused the retry may be the connection's (PostgreSQL restarted).
    If the release fails too, the lease runs out and the sweeper runs the row then."""
    heal_database_connections(task=task)
    try:
        release(task.request.id, countdown)
    except DATABASE_ERRORS:
        logger.warning(
            "%s %s: not handed back; runs again after its lease", task.name, task.request.id
        )


def claim(task_id: str) -> list[Any] | None:
    """Claim the row for this copy for a lease longer than any task may run, and return the
    task's arguments; None when the row is gone or another copy holds a live lease."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    unclaimed = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    claimed = QueuedTask.objects.filter(unclaimed, task_id=task_id).update(
        claimed_until=until, available_at=until
    )
    if not claimed:
        return None
    # Read after the claim: only erasure deletes a claimed row meanwhile (then there is nothing to do).
    return QueuedTask.objects.filter(task_id=task_id).values_list("args", flat=True).first()


def done(task_id: str) -> None:
    """The task returned: the mail is out, or refused for good (logged by the task)."""
    try:
        QueuedTask.objects.filter(task_id=task_id).delete()
    except DATABASE_ERRORS:
        # The row comes back after its lease and the mail is sent again: at least once.
        logger.exception("queued task %s done, but its row stays; it will run again", task_id)


def release(task_id: str, countdown: float) -> None:
    """Hand the row back for a retry in `countdown` seconds; the sweeper publishes it again if
    that retry's message is lost."""
    QueuedTask.objects.filter(task_id=task_id).update(
        claimed_until=None, available_at=_requeue_at(countdown)
    )


def give_back(task_id: str, exc: BaseException) -> None:
    """The task failed after its retries: the sweeper publishes it again after a backoff that
    grows with each such failure, until the row is older than MAIL_TASK_GIVE_UP_HOURS."""
    row = QueuedTask.objects.filter(task_id=task_id).first()
    if row is None:
        return
    error = scrub(f"{type(exc).__name__}: {exc}")[:500]
    if row.created_at < _give_up_before():
        row.delete()
        logger.error("%s %s given up after %s runs: %s", row.name, task_id, row.attempts + 1, error)
        return
    wait = backoff(row.attempts + 1)
    QueuedTask.objects.filter(pk=row.pk).update(
        claimed_until=None,
        available_at=timezone.now() + timedelta(seconds=wait),
        attempts=row.attempts + 1,
        last_error=error,
    )
    logger.warning("%s %s failed (%s); again in %.0fs", row.name, task_id, error, wait)


def sweep() -> list[str]:
    """Publish again the rows that are due and unclaimed, marked due again MAIL_TASK_REQUEUE_AFTER
    seconds from now; delete those older than MAIL_TASK_GIVE_UP_HOURS. Returns the task ids
    published."""
    now = timezone.now()
    idle = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    stale = QueuedTask.objects.filter(idle, created_at__lt=_give_up_before())
    for name, task_id, attempts, error in stale.values_list(
        "name", "task_id", "attempts", "last_error"
    ):
        logger.error("%s %s given up after %s runs: %s", name, task_id, attempts, error or "lost")
    stale.delete()
    due = list(
        QueuedTask.objects.filter(idle, available_at__lte=now)
        .order_by("available_at")
        .values_list("pk", "name", "task_id")[:SWEEP_LIMIT]
    )
    QueuedTask.objects.filter(pk__in=[pk for pk, *_ in due]).update(available_at=_requeue_at())
    for _, name, task_id in due:
        try:
            task_named(name).apply_async(task_id=str(task_id))
        except Exception:  # the broker went away (or, in-process, the task failed): due again later
            logger.exception("%s %s not published again", name, task_id)
    return [str(task_id) for *_, task_id in due]


def _requeue_at(countdown: float = 0):
    return timezone.now() + timedelta(seconds=countdown + settings.MAIL_TASK_REQUEUE_AFTER_SECONDS)


def _give_up_before():
    return timezone.now() - timedelta(hours=settings.MAIL_TASK_GIVE_UP_HOURS)


# --- Personal data (registered with subscriptions.lifecycle: export and erasure) --------------------

Describe = Callable[[list[Any]], dict[str, Any]]
_descriptions: dict[str, Describe] = {}


def describe(name: str, how: Describe) -> None:
    """List a row of task `name` in a subscriber's export as `how(args)`, for a task that sends no
    mail of its own name (a form request: its kind); any other row reads as the mail it sends."""
    _descriptions[name] = how


def export(email_key: str) -> list[dict[str, Any]]:
    return [
        {**_description(name, args), "queued_at": created_at.isoformat()}
        for name, args, created_at in QueuedTask.objects.filter(email_key=email_key)
        .order_by("pk")
        .values_list("name", "args", "created_at")
    ]


def _description(name: str, args: list[Any]) -> dict[str, Any]:
    if name in _descriptions:
        return _descriptions[name](args)
    return {"mail": name.rpartition(".send_")[2]}


def erase(email_key: str, *prefixes: str) -> int:
    """Delete the rows not yet done for `email_key` (only the tasks whose name starts with one of
    `prefixes`, when given)."""
    rows = QueuedTask.objects.filter(email_key=email_key)
    if prefixes:
        named = Q()
        for prefix in prefixes:
            named |= Q(name__startswith=prefix)
        rows = rows.filter(named)
    deleted, _ = rows.delete()
    return deleted
