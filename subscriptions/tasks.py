"""Celery tasks of the subscriptions app: thin, take ids, re-check state before acting."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import shared_task
from django.conf import settings
from django.urls import reverse

from mlmw.celery import DATABASE_RETRY
from subscriptions import (
    audience,
    delivery,
    digests,
    emails,
    form_requests,
    importing,
    queued_tasks,
    retention,
    tokens,
)
from subscriptions.lifecycle import record
from subscriptions.models import Subscriber, SubscriberEvent
from subscriptions.queued_tasks import Queued
from subscriptions.sending import MAIL_TASK_RETRY, send_transactional


# The public forms' requests (subscriptions.form_requests): a queued task whose arguments are the
# form's answer, as its row holds them. It deletes its row in the decision's transaction, so a
# redelivered copy decides nothing; a lost database connection retries it with the row handed back.
@shared_task(bind=True, base=Queued, ignore_result=True, **DATABASE_RETRY)
def process_form_request(self, kind: str, payload: dict[str, Any]) -> bool:
    return form_requests.process(self.request.id, kind, payload)


@shared_task(ignore_result=True, **DATABASE_RETRY)
def sweep_queued_tasks() -> list[str]:
    """Publish again the queued tasks (transactional mails, form requests) whose message was lost
    or which wait out a failure (beat, every MAIL_TASK_SWEEP_INTERVAL s)."""
    return queued_tasks.sweep()


# The one-mail tasks are written as rows (subscriptions.queued_tasks.enqueue); their base class
# claims the row before running and deletes it once the mail is out or refused for good.
@shared_task(base=Queued, ignore_result=True, **MAIL_TASK_RETRY)
def send_confirmation(subscriber_id: int, nonce: str) -> bool:
    """Mail the confirmation link, if that link is still the current one.

    A worker that dies after the ESP accepted it sends the same link again (at-least-once); a task for
    a link that was replaced or used sends nothing.
    """
    subscriber = Subscriber.objects.filter(
        pk=subscriber_id, status=Subscriber.Status.PENDING, confirm_nonce=nonce
    ).first()
    if subscriber is None:
        return False
    url = emails.absolute(reverse("subscriptions:confirm", args=[tokens.confirm_token(subscriber)]))
    context = {
        "confirm_url": url,
        "max_age_hours": settings.CONFIRMATION_MAX_AGE_HOURS,
        # What the link confirms: the mail names it, so the owner consents to what they read.
        "guides": list(subscriber.guides.order_by("title")),
        "cadence": subscriber.get_cadence_display(),
    }
    if not send_transactional(emails.build("confirm", subscriber, context, list_mail=False)):
        return False
    record(subscriber, SubscriberEvent.Kind.CONFIRMATION_SENT)
    return True


@shared_task(base=Queued, ignore_result=True, **MAIL_TASK_RETRY)
def send_already_subscribed(subscriber_id: int) -> bool:
    subscriber = Subscriber.objects.filter(
        pk=subscriber_id, status=Subscriber.Status.CONFIRMED
    ).first()
    if subscriber is None:
        return False
    return send_transactional(emails.build("already_subscribed", subscriber))


@shared_task(bind=True, base=Queued, ignore_result=True, **MAIL_TASK_RETRY)
def send_import_confirmations(self, first_id: int, last_id: int, sent_at: str) -> int:
    """Enqueue the confirmation mail of each subscriber one chunk of an import created pending.

    The chunk is named by its pk range and the import's timestamp (see subscriptions.importing), so the
    message stays small. Each mail is its own send_confirmation task, retried on its own; their
    rows replace this task's in one transaction, so a rerun enqueues nothing twice.
    """
    pending = list(
        Subscriber.objects.filter(
            pk__range=(first_id, last_id),
            status=Subscriber.Status.PENDING,
            source="import",
            confirm_sent_at=datetime.fromisoformat(sent_at),
        ).values_list("pk", "confirm_nonce", "email_key")
    )  # at most one chunk (2000 rows)
    mails = [((pk, nonce), key) for pk, nonce, key in pending]
    if not queued_tasks.fan_out(self.request.id, send_confirmation.name, mails):
        return 0
    return len(pending)


@shared_task(ignore_result=True)
def purge_pending_subscribers() -> int:
    return retention.purge_pending()


# --- Mailings: thin wrappers around subscriptions.audience and subscriptions.delivery ----------------


@shared_task(ignore_result=True, **DATABASE_RETRY)
def start_mailing(mailing_id: int) -> int:
    """Write the next chunk of the audience; enqueue the next chunk first, then this chunk's
    batches, so one worker writes the audience while the others send what is written."""
    step = audience.start_chunk(mailing_id)
    if step.more:
        start_mailing.delay(mailing_id)
    for batch_id in step.batch_ids:
        send_batch.delay(batch_id)
    return len(step.batch_ids)


@shared_task(ignore_result=True, **DATABASE_RETRY)
def send_batch(batch_id: int) -> None:
    wait = delivery.send(batch_id)
    if wait is not None:
        send_batch.apply_async((batch_id,), countdown=wait)


@shared_task(ignore_result=True, **DATABASE_RETRY)
def sweep_mailings() -> dict:
    found = delivery.sweep()
    for mailing_id in found.mailings:
        start_mailing.delay(mailing_id)
    for batch_id in found.batches:
        send_batch.delay(batch_id)
    return {"mailings": found.mailings, "batches": found.batches}


@shared_task(ignore_result=True, **DATABASE_RETRY)
def open_digest() -> int | None:
    """Open the current slot's digest mailing if a reader is due (beat, every DIGEST_INTERVAL s)."""
    mailing = digests.open_due()
    return mailing.pk if mailing is not None else None


@shared_task(ignore_result=True)
def run_import(job_id: int) -> str:
    """A CSV import of the admin's (subscriptions.importing.run_job claims and runs it)."""
    return importing.run_job(job_id)


@shared_task(base=Queued, ignore_result=True, **MAIL_TASK_RETRY)
def send_welcome(subscriber_id: int) -> bool:
    """The welcome after confirming, once per confirmation (subscriptions.welcome claims it)."""
    from subscriptions import welcome

    return welcome.send(subscriber_id, send_transactional)
