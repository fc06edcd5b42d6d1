"""What happens to an access request: asked, verified, approved or denied; and to its grant.

Views, the admin and tasks call these. Address rules, the resend window, single-use links, consent
and on-commit mail are the subscription code's (subscriptions.addresses, .lifecycle, .tokens), shared
rather than copied. Mail is never sent inline: tasks are enqueued by name on commit (access.tasks
calls this module, never the reverse).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from access.models import AccessRequest, Artifact, Grant, GrantToken, hash_token
from subscriptions import addresses, emails, tokens
from subscriptions.lifecycle import Request, may_mail_again, subscribe_verified
from subscriptions.models import Subscriber
from subscriptions.queued_tasks import enqueue

_VERIFY = "mlmw.access.verify"
Status = AccessRequest.Status


def request_from_form(payload: dict[str, Any]) -> None:
    """The request form's submission (access.views.request_access, decided through
    subscriptions.form_requests): nothing when its artifact was deleted meanwhile."""
    artifact = Artifact.objects.filter(pk=payload["artifact_id"]).first()
    if artifact is not None:
        request_access(artifact, payload["address"], **payload["choices"])


def request_access(
    artifact: Artifact,
    email: str,
    *,
    name: str = "",
    reason: str = "",
    want_updates: bool = False,
    want_revisions: bool = False,
) -> None:
    """Ask for an artifact. Returns nothing on purpose: the caller answers every case alike.

    One unverified request per address and artifact: asking again past CONFIRMATION_RESEND_SECONDS
    replaces its choices and mails a new link (voiding the old one); within it nothing changes, so a
    link verifies exactly what its mail named (docs/security.md, "Consent").
    """
    address = addresses.normalize_address(email)
    now = timezone.now()
    with transaction.atomic():
        found = (
            AccessRequest.objects.select_for_update()
            .filter(artifact=artifact, email_key=addresses.key(address), status=Status.UNVERIFIED)
            .first()
        )
        if found is not None and not may_mail_again(found.verify_sent_at, now):
            # The link mailed in the resend window verifies exactly what its mail offered: a later
            # submission (anyone may type the address) changes nothing and sends nothing.
            return
        request = found or AccessRequest(artifact=artifact, email_key=addresses.key(address))
        request.email = address
        request.name = name[:100]
        request.reason = reason[:500]
        request.want_updates = want_updates
        request.want_revisions = want_revisions
        request.new_verify_nonce()
        request.verify_sent_at = now
        request.save()
        enqueue(
            "access.tasks.send_verification",
            request.pk,
            request.verify_nonce,
            email_key=request.email_key,
        )


def verify_token(request: AccessRequest) -> str:
    return tokens.single_use_token(request.uid, request.verify_nonce, salt=_VERIFY)


class VerifyError(Exception):
    def __init__(self, reason: str) -> None:  # "invalid", "expired", "used"
        super().__init__(reason)
        self.reason = reason


def check_verify_token(token: str) -> AccessRequest:
    """The unverified request a verification link is for, or VerifyError saying why not."""
    try:
        claim = tokens.read_single_use_token(token, salt=_VERIFY)
    except tokens.ExpiredToken:
        raise VerifyError("expired") from None
    except tokens.BadToken:
        raise VerifyError("invalid") from None
    request = AccessRequest.objects.select_related("artifact__guide").filter(uid=claim.uid).first()
    if request is None:
        raise VerifyError("invalid")
    if request.status != Status.UNVERIFIED or request.verify_nonce != claim.nonce:
        raise VerifyError("used")
    return request


def verify(token: str, client: Request) -> AccessRequest:
    """The POST behind the verification button: the address is proven; the request waits for review,
    or is approved at once by the artifact's rule. With "also send me guide updates" ticked, the same
    click confirms a subscription to the guide (its consent record)."""
    with transaction.atomic():
        request = check_verify_token(token)
        request = (
            AccessRequest.objects.select_for_update()
            .select_related("artifact__guide")
            .get(pk=request.pk)
        )
        check_verify_token(token)  # again under the lock: two clicks verify once
        # The rule is read before any subscription this click creates: ticking "updates" must not
        # make a stranger a confirmed subscriber who then passes the rule.
        auto = auto_approves(request)
        request.status = Status.PENDING
        request.verified_at = timezone.now()
        request.verified_ip = client.ip
        request.verified_user_agent = client.user_agent[:500]
        request.verify_nonce = ""
        request.save()
        if request.want_updates:
            subscribe_verified(
                request.email,
                guides=[request.artifact.guide],
                request=client,
                source=f"access-{request.artifact.guide.slug}",
            )
        if auto:
            approve(request, by=None, auto=True)
            request.refresh_from_db()
    return request


def auto_approves(request: AccessRequest) -> bool:
    artifact = request.artifact
    domain = request.email_key.rpartition("@")[2]
    if domain in artifact.domains():
        return True
    return (
        artifact.auto_approve_subscribers
        and Subscriber.objects.confirmed()
        .filter(email_key=request.email_key, guides=artifact.guide_id)
        .exists()
    )


def approve(request: AccessRequest, *, by, message: str = "", auto: bool = False) -> Grant | None:
    """Approve a request waiting for review: create its grant and mail the link (on commit).

    A conditional update claims the request, so a double click or two editors approve it once;
    returns None when it was not waiting for review.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = AccessRequest.objects.filter(pk=request.pk, status=Status.PENDING).update(
            status=Status.APPROVED,
            decided_at=now,
            decided_by=by,
            auto_approved=auto,
            message=message[:1000],
        )
        if not claimed:
            return None
        grant = Grant(
            request_id=request.pk,
            artifact_id=request.artifact_id,
            created_at=now,
            expires_at=now + timedelta(days=settings.ACCESS_GRANT_DAYS),
            max_downloads=settings.ACCESS_DOWNLOAD_CAP,
            notify_revisions=request.want_revisions,
        )
        grant.save()  # no link yet: the mail task issues it (tokens exist only hashed)
        enqueue("access.tasks.send_grant_link", grant.pk, email_key=request.email_key)
    return grant


def deny(request: AccessRequest, *, by, message: str = "") -> bool:
    """Deny a request waiting for review and mail a polite note with the message (on commit)."""
    with transaction.atomic():
        claimed = AccessRequest.objects.filter(pk=request.pk, status=Status.PENDING).update(
            status=Status.DENIED, decided_at=timezone.now(), decided_by=by, message=message[:1000]
        )
        if claimed:
            enqueue("access.tasks.send_denial", request.pk, email_key=request.email_key)
    return bool(claimed)


def decide_all(requests: Iterable[AccessRequest], *, approved: bool, by, message: str = "") -> int:
    """The admin's bulk action: how many of `requests` were decided (others were not pending)."""
    decide = approve if approved else deny
    return sum(1 for request in requests if decide(request, by=by, message=message))


def resend_links(grants: Iterable[Grant]) -> int:
    """Mail each live grant among `grants` a new link (on commit), for a link mail that never got
    through (out of retries, refused, lost). The approval's own task does it, under its guarantees:
    the holder's earlier links work until the ESP accepts the new mail. Returns how many were live."""
    with transaction.atomic():
        live = list(
            Grant.objects.live()
            .filter(pk__in=[grant.pk for grant in grants])
            .order_by("pk")
            .values_list("pk", "request__email_key")
        )
        for grant_id, email_key in live:
            enqueue("access.tasks.send_grant_link", grant_id, email_key=email_key)
    return len(live)


def revoke(grants: Iterable[Grant]) -> int:
    pks = [grant.pk for grant in grants]
    return Grant.objects.filter(pk__in=pks, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


@dataclass(frozen=True)
class Link:
    """A link issued for one mail: its grant, the token (only ever in that mail) and its row."""

    grant: Grant
    token: str
    token_id: int

    def url(self) -> str:
        return emails.absolute(reverse("access:link", args=[self.token]))


def issue_link(grant_id: int) -> Link | None:
    """A new link for a live grant, committed before any mail names it; None if the grant is not live.

    Only hashes are stored, so every mail carries a link of its own. The grant's earlier links keep
    working until the ESP accepts this link's mail (link_mailed): a mail that fails, or is never
    sent, costs the holder nothing.
    """
    with transaction.atomic():
        grant = (
            Grant.objects.live()
            .select_for_update()  # one issue at a time per grant: ids follow the issue order
            .filter(pk=grant_id)
            .select_related("request", "artifact")
            .first()
        )
        if grant is None:
            return None
        row, token = GrantToken.issue(grant)
    return Link(grant=grant, token=token, token_id=row.pk)


def link_mailed(link: Link) -> None:
    """The ESP accepted the mail carrying `link`: it is now the newest mail in the holder's inbox, so
    its link is the one kept. Links accepted before it and links issued before it stop working;
    links issued after it (another mail still on its way) keep working.

    Ordered by acceptance, not by issue: with two mails in flight (a resend while a notice is being
    sent, two workers), a newer link's mail may be accepted first and retire this link; this mail,
    accepted last, then lands last in the inbox, so its link is stored again (the token is still in
    hand here; only its hash is stored) and the other one retires.
    """
    now = timezone.now()
    with transaction.atomic():
        # One acceptance at a time per grant, so two of them cannot retire each other.
        if not list(Grant.objects.select_for_update().filter(pk=link.grant.pk).values("pk")):
            return  # erased or purged meanwhile: no link to keep
        kept = link.token_id
        if not GrantToken.objects.filter(pk=kept).update(mailed_at=now):
            kept = GrantToken.objects.create(
                grant_id=link.grant.pk, token_hash=hash_token(link.token), mailed_at=now
            ).pk
        GrantToken.objects.filter(grant_id=link.grant.pk).exclude(pk=kept).filter(
            Q(mailed_at__isnull=False) | Q(pk__lt=link.token_id)
        ).delete()
        Grant.objects.filter(pk=link.grant.pk).update(link_sent_at=now)
