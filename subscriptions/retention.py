"""How long we keep an address that never confirmed: PENDING_RETENTION_DAYS after its last
confirmation mail (or its creation), then the row and its history go (beat: purge-pending-subscribers).

Anyone can type an address into the form; until its owner confirms, we hold it without consent. A
subscriber who confirms, or asks again (a new mail), starts the period over.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from subscriptions.models import Delivery, Subscriber


def purge_pending(now: datetime | None = None) -> int:
    """Delete pending subscribers idle past the retention period, with their events and baselines
    (CASCADE); returns how many. Their past deliveries stay, anonymous, for the mailings' counts."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.PENDING_RETENTION_DAYS)
    idle = Subscriber.objects.filter(
        status=Subscriber.Status.PENDING, created_at__lt=cutoff
    ).filter(Q(confirm_sent_at__isnull=True) | Q(confirm_sent_at__lt=cutoff))
    with transaction.atomic():
        ids = list(idle.select_for_update(skip_locked=True).values_list("pk", flat=True))
        # Error texts may quote the address (as erasure does).
        Delivery.objects.filter(subscriber_id__in=ids).update(error="")
        Subscriber.objects.filter(pk__in=ids).delete()
    return len(ids)
