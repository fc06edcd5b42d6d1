"""The "new revision" notice: when an editor uploads a revision, holders of a live grant who ticked
"tell me about new revisions" get one mail with their link, through the release delivery pipeline
(subscriptions.delivery: Mailing, Batch and Delivery rows, claims, retries, the send rate, the
sweeper), not a second sender.

A grant holder need not be a subscriber, and must not become one (they would then be on the list, in
its export and counts): their Delivery row names the grant (Delivery.grant) instead of a subscriber.
Only a hash of each link's token is stored, so the sender issues a new link per recipient right
before sending it (access.lifecycle.issue_link); the holder's earlier links keep working until the
ESP accepts the notice (lifecycle.link_mailed), and the mail says the link replaces the earlier one.
"""

from __future__ import annotations

import logging

from django.core import signing
from django.core.mail import get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from access import lifecycle, privacy
from access.models import ArtifactRevision, Grant
from subscriptions import emails
from subscriptions.delivery import Outcome, mark, open_mailing, send_one
from subscriptions.exceptions import SendFailure
from subscriptions.models import Batch, Delivery, Mailing

logger = logging.getLogger(__name__)
_STOP = "mlmw.access.stop-notices"


def revision_uploaded(revision_id: int) -> Mailing | None:
    """Open the notice mailing of a new revision, once; None if it was opened already.

    Called in the upload's transaction, so the revision and its notice commit together: the mailing
    row is the outbox, started on commit, and started by the mailing sweeper if that task is lost.
    One mailing per revision: the revision's row lock and its one `notice` (a unique one-to-one).
    """
    with transaction.atomic():
        revision = ArtifactRevision.objects.select_for_update().filter(pk=revision_id).first()
        if revision is None or revision.notice_id is not None:
            return None
        revision.notice = open_mailing(Mailing.Kind.ACCESS_REVISION)
        revision.save(update_fields=["notice"])
    return revision.notice


def audience(mailing: Mailing) -> list[dict]:
    """Who gets the notice, read when it starts (subscriptions.delivery registers it): holders of a
    live grant created before the upload who asked. Nobody when the revision is no longer the
    artifact's newest (two uploads in a row notify once, of the newer one)."""
    revision = ArtifactRevision.objects.filter(notice=mailing).select_related("artifact").first()
    if revision is None or revision != revision.artifact.latest_revision():
        return []
    holders = Grant.objects.live().filter(
        artifact_id=revision.artifact_id,
        notify_revisions=True,
        created_at__lt=revision.created_at,  # a link issued after the upload is already new
    )
    grant_ids = list(holders.order_by("pk").values_list("pk", flat=True))
    logger.info("revision %s: notice to %s grant holders", revision.pk, len(grant_ids))
    return [{"grant_id": pk} for pk in grant_ids]


def stop_token(grant: Grant) -> str:
    return signing.Signer(salt=_STOP).sign(str(grant.pk))


def read_stop_token(token: str) -> Grant | None:
    try:
        pk = signing.Signer(salt=_STOP).unsign(token)
    except signing.BadSignature:
        return None
    return Grant.objects.filter(pk=pk).first()


def stop(grant: Grant) -> None:
    Grant.objects.filter(pk=grant.pk).update(notify_revisions=False)


def send_notices(batch: Batch, delivery_ids: list[int]) -> Outcome:
    """The sender of ACCESS_REVISION mailings (registered in AccessConfig.ready)."""
    revision = ArtifactRevision.objects.select_related("artifact").get(notice_id=batch.mailing_id)
    rows = list(Delivery.objects.filter(pk__in=delivery_ids).values_list("pk", "grant_id"))
    sent: dict[int, str] = {}
    failed: dict[int, str] = {}
    gone: list[int] = []
    deferred: list[str] = []
    with get_connection() as conn:
        for delivery_id, grant_id in rows:
            link = None
            if grant_id is not None:
                still = Grant.objects.filter(pk=grant_id, notify_revisions=True).live()
                link = lifecycle.issue_link(grant_id) if still.exists() else None
            if link is None:
                gone.append(delivery_id)  # revoked, expired, used up, erased or opted out since
                continue
            message = emails.build_personal(
                "access_revision",
                link.grant.request.email,
                _context(link, revision),
                headers=_stop_headers(link.grant),
            )
            message.connection = conn
            try:
                message_id = send_one(message)
            except SendFailure as exc:
                if exc.recipient_only and exc.permanent:
                    failed[delivery_id] = str(exc)  # this holder only; the batch goes on
                    continue
                if exc.recipient_only:
                    deferred.append(str(exc))  # stays queued for the batch's retry
                    continue
                # Keep what already went out; the rest of the batch is retried (or failed for good).
                _skip(gone)
                with transaction.atomic():
                    mark(Outcome(sent=sent, failed=failed), timezone.now())
                raise
            # Recorded at once, with the new link replacing the older ones: a worker dying later in
            # the batch sends this holder nothing twice.
            sent[delivery_id] = message_id
            with transaction.atomic():
                mark(Outcome(sent={delivery_id: message_id}, failed={}), timezone.now())
                lifecycle.link_mailed(link)
    _skip(gone)
    if deferred:
        with transaction.atomic():
            mark(Outcome(sent={}, failed=failed), timezone.now())
        raise SendFailure(f"{len(deferred)} deferred, e.g. {deferred[0]}", permanent=False)
    return Outcome(sent=sent, failed=failed)


def _skip(delivery_ids: list[int]) -> None:
    Delivery.objects.filter(pk__in=delivery_ids, status=Delivery.Status.QUEUED).update(
        status=Delivery.Status.SKIPPED, error="link no longer live"
    )


def _stop_url(grant: Grant) -> str:
    return emails.absolute(reverse("access:stop_notices", args=[stop_token(grant)]))


def _stop_headers(grant: Grant) -> dict[str, str]:
    # RFC 8058 one-click: a mail client may stop the notices without a visit.
    return {
        "List-Unsubscribe": f"<{_stop_url(grant)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def _context(link: lifecycle.Link, revision: ArtifactRevision) -> dict:
    grant = link.grant
    return {
        "request": grant.request,
        "artifact": revision.artifact,
        "revision": revision,
        "grant": grant,
        "downloads_left": max(grant.max_downloads - grant.download_count, 0),
        "link": link.url(),
        "stop_url": _stop_url(grant),
        "data_url": privacy.data_url(grant.request),
    }
