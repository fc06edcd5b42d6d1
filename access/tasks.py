"""Celery tasks of access requests: thin, take ids, re-check state before acting.

They call access.lifecycle, which enqueues the mail tasks as rows by name
(subscriptions.queued_tasks.enqueue) and never imports this module."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.urls import reverse

from access import lifecycle, notices, privacy
from access.models import AccessRequest
from subscriptions import emails
from subscriptions.queued_tasks import Queued
from subscriptions.sending import MAIL_TASK_RETRY, send_transactional


@shared_task(base=Queued, ignore_result=True, **MAIL_TASK_RETRY)
def send_verification(request_id: int, nonce: str) -> bool:
    """Mail the verification link, if that link is still the current one (at-least-once, as
    subscriptions.tasks.send_confirmation)."""
    request = (
        AccessRequest.objects.select_related("artifact__guide")
        .filter(pk=request_id, status=AccessRequest.Status.UNVERIFIED, verify_nonce=nonce)
        .first()
    )
    if request is None:
        return False
    url = emails.absolute(reverse("access:verify", args=[lifecycle.verify_token(request)]))
    context = {
        "request": request,
        "artifact": request.artifact,
        "verify_url": url,
        "max_age_hours": settings.CONFIRMATION_MAX_AGE_HOURS,
        "data_url": privacy.data_url(request),
    }
    return send_transactional(emails.build_personal("access_verify", request.email, context))


@shared_task(base=Queued, ignore_result=True, **MAIL_TASK_RETRY)
def send_grant_link(grant_id: int) -> bool:
    """Mail a new personal link of a live grant (approval, or the admin's "Resend link"). Each run
    issues a link of its own, since only hashes are stored; the holder's earlier links keep working
    until the ESP accepts this mail, so a failed or retried run costs them nothing."""
    link = lifecycle.issue_link(grant_id)
    if link is None:
        return False
    grant = link.grant
    context = {
        "request": grant.request,
        "artifact": grant.artifact,
        "grant": grant,
        "link": link.url(),
        "data_url": privacy.data_url(grant.request),
    }
    message = emails.build_personal("access_granted", grant.request.email, context)
    if not send_transactional(message):
        return False  # refused for good: the earlier links keep working; "Resend link" can retry
    lifecycle.link_mailed(link)
    return True


@shared_task(base=Queued, ignore_result=True, **MAIL_TASK_RETRY)
def send_denial(request_id: int) -> bool:
    request = (
        AccessRequest.objects.select_related("artifact")
        .filter(pk=request_id, status=AccessRequest.Status.DENIED)
        .first()
    )
    if request is None:
        return False
    context = {
        "request": request,
        "artifact": request.artifact,
        "request_url": emails.absolute(request.artifact.get_request_url()),
        "data_url": privacy.data_url(request),
    }
    return send_transactional(emails.build_personal("access_denied", request.email, context))


@shared_task(ignore_result=True)
def purge_access_requests() -> int:
    return privacy.purge()


@shared_task(ignore_result=True)
def notify_new_revision(revision_id: int) -> int:
    """Open the notice of a new revision, once (access.notices.revision_uploaded, which an upload
    calls in its own transaction)."""
    return int(notices.revision_uploaded(revision_id) is not None)
