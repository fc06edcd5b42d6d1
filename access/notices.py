"""The "new revision" notice: when an editor uploads a revision, holders of a live grant who ticked
"tell me about new revisions" get one mail with their link, through the release delivery pipeline
(subscriptions.audience and subscriptions.delivery: Mailing, Batch and Delivery rows, claims,
retries, the send rate, the sweeper) and its one-message-per-recipient loop (sending.send_each), not
a second sender.

A grant holder need not be a subscriber, and must not become one (they would then be on the list, in
its export and counts): their Delivery row names the grant (Delivery.grant) instead of a subscriber.
Only a hash of each link's token is stored, so the sender issues a new link per recipient right
before sending it (access.lifecycle.issue_link); the holder's earlier links keep working until the
ESP accepts the notice (lifecycle.link_mailed), and the mail says the link replaces the earlier one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from access import lifecycle, privacy
from access.models import ArtifactRevision, Grant
from subscriptions import emails, ledger
from subscriptions.audience import open_mailing
from subscriptions.models import Batch, Delivery, Mailing
from subscriptions.sending import Outcome, send_each

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
    gone: list[int] = []  # revoked, expired, used up, erased or opted out since
    links: dict[int, lifecycle.Link] = {}

    def messages() -> Iterator[tuple[int, EmailMessage]]:
        for delivery_id, grant_id in rows:
            link = None
            if grant_id is not None:
                still = Grant.objects.filter(pk=grant_id, notify_revisions=True).live()
                link = lifecycle.issue_link(grant_id) if still.exists() else None
            if link is None:
                gone.append(delivery_id)
                continue
            links[delivery_id] = link
            yield (
                delivery_id,
                emails.build_personal(
                    "access_revision",
                    link.grant.request.email,
                    _context(link, revision),
                    headers=emails.one_click_headers(_stop_url(link.grant)),
                ),
            )

    def accepted(delivery_id: int, message_id: str) -> None:
        # Recorded at once, with the new link replacing the older ones: a worker dying later in
        # the batch sends this holder nothing twice.
        with transaction.atomic():
            ledger.mark(Outcome(sent={delivery_id: message_id}, failed={}), timezone.now())
            lifecycle.link_mailed(links[delivery_id])

    def record(outcome: Outcome) -> None:
        _skip(gone)
        with transaction.atomic():
            ledger.mark(outcome, timezone.now())

    outcome = send_each(messages(), record, accepted)
    _skip(gone)
    return outcome


def _skip(delivery_ids: list[int]) -> None:
    Delivery.objects.filter(pk__in=delivery_ids, status=Delivery.Status.QUEUED).update(
        status=Delivery.Status.SKIPPED, error="link no longer live"
    )


def _stop_url(grant: Grant) -> str:
    return emails.absolute(reverse("access:stop_notices", args=[stop_token(grant)]))


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
