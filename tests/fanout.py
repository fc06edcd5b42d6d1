"""What the fan-out worker tests share: the shortest lease, and the batch some recipients are in."""

from __future__ import annotations

from subscriptions.models import Batch, Delivery, Mailing

# The shortest lease the settings allow: above the shortest hard time limit (10 s).
SHORT_LEASE = {"CELERY_TASK_TIME_LIMIT": 10, "MAIL_BATCH_LEASE_SECONDS": 11}


def batch_of(mailing: Mailing, recipients) -> Batch:
    """The one Batch row holding these recipients' deliveries."""
    ids = Delivery.objects.filter(mailing=mailing, subscriber__email__in=list(recipients))
    [batch] = {
        batch
        for batch in Batch.objects.filter(mailing=mailing)
        for pk in ids.values_list("pk", flat=True)
        if batch.first_delivery_id <= pk <= batch.last_delivery_id
    }
    return batch
