"""Celery tasks of the subscriptions app: thin, take ids, re-check state before acting."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.urls import reverse

from subscriptions import emails, tokens
from subscriptions.lifecycle import record
from subscriptions.models import Subscriber, SubscriberEvent


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_confirmation(subscriber_id: int, nonce: str) -> bool:
    """Mail the confirmation link, if that link is still the current one.

    A retried or redelivered task sends the same link again at worst (at-least-once); a task for a link
    that was replaced or used sends nothing.
    """
    subscriber = Subscriber.objects.filter(
        pk=subscriber_id, status=Subscriber.Status.PENDING, confirm_nonce=nonce
    ).first()
    if subscriber is None:
        return False
    url = emails.absolute(reverse("subscriptions:confirm", args=[tokens.confirm_token(subscriber)]))
    context = {"confirm_url": url, "max_age_hours": settings.CONFIRMATION_MAX_AGE_HOURS}
    emails.build("confirm", subscriber, context).send()
    record(subscriber, SubscriberEvent.Kind.CONFIRMATION_SENT)
    return True


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_already_subscribed(subscriber_id: int) -> bool:
    subscriber = Subscriber.objects.filter(
        pk=subscriber_id, status=Subscriber.Status.CONFIRMED
    ).first()
    if subscriber is None:
        return False
    emails.build("already_subscribed", subscriber).send()
    return True
