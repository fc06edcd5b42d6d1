"""Access requests and grants are personal data: exported with the subscriber's data, removed by
erasure (both registered with subscriptions.lifecycle in AccessConfig.ready), purged after
ACCESS_RETENTION_DAYS once denied, expired, revoked or never verified."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from access.models import AccessRequest
from subscriptions import emails, form_requests, queued_tasks

_DATA = "mlmw.access.data"


class BadToken(Exception):
    """Tampered or malformed."""


def data_token(request: AccessRequest) -> str:
    """The secret of the "your data" link in every access mail: names the request by its random uid
    (never the address), never expires (old mails keep working), as the subscription links."""
    return signing.Signer(salt=_DATA).sign(request.uid.hex)


def data_url(request: AccessRequest) -> str:
    return emails.absolute(reverse("access:my_data", args=[data_token(request)]))


def read_data_token(token: str) -> str | None:
    """The address key a data link is for; None when its request is gone (erased, purged);
    BadToken when the link was tampered with."""
    try:
        uid = signing.Signer(salt=_DATA).unsign(token)
    except signing.BadSignature:
        raise BadToken from None
    return AccessRequest.objects.filter(uid=uid).values_list("email_key", flat=True).first()


def _when(value) -> str | None:
    return value.isoformat() if value else None


def export(email_key: str) -> list[dict[str, Any]]:
    records = []
    requests = (
        AccessRequest.objects.filter(email_key=email_key)
        .select_related("artifact__guide", "grant")
        .prefetch_related("grant__downloads")
        .order_by("created_at", "pk")
    )
    for request in requests:
        grant = getattr(request, "grant", None)
        records.append(
            {
                "artifact": request.artifact.title,
                "guide": request.artifact.guide.slug,
                "email": request.email,
                "name": request.name,
                "reason": request.reason,
                "also_guide_updates": request.want_updates,
                "tell_about_new_revisions": request.want_revisions,
                "status": request.status,
                "requested_at": _when(request.created_at),
                "verified": {
                    "at": _when(request.verified_at),
                    "ip": request.verified_ip,
                    "user_agent": request.verified_user_agent,
                },
                "decided_at": _when(request.decided_at),
                "message": request.message,
                "grant": None
                if grant is None
                else {
                    "created_at": _when(grant.created_at),
                    "expires_at": _when(grant.expires_at),
                    "revoked_at": _when(grant.revoked_at),
                    "downloads": [
                        {"at": _when(d.at), "ip": d.ip, "user_agent": d.user_agent}
                        for d in grant.downloads.all()
                    ],
                },
            }
        )
    return records


def erase(email_key: str) -> int:
    # Grants and their download log go with their requests (CASCADE); a form request not yet
    # decided goes too (its decision would write a request again), and access mails not yet sent.
    deleted, _ = AccessRequest.objects.filter(email_key=email_key).delete()
    return deleted + queued_tasks.erase(email_key, "access.", form_requests.PROCESS_TASK)


def purge(now=None) -> int:
    """Delete requests past the retention period that can no longer be used: denied, never verified,
    or with an expired or revoked grant. Pending and live ones stay, whatever their age."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ACCESS_RETENTION_DAYS)
    Status = AccessRequest.Status
    done = (
        Q(status=Status.DENIED, decided_at__lt=cutoff)
        | Q(status=Status.UNVERIFIED, created_at__lt=cutoff)
        | Q(status=Status.APPROVED, grant__expires_at__lt=cutoff)
        | Q(status=Status.APPROVED, grant__revoked_at__lt=cutoff)
    )
    deleted, _ = AccessRequest.objects.filter(done).delete()
    return deleted
