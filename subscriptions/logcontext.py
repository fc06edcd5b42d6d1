"""Log context of the release fan-out: a batch task's lines also name its mailing and its deliveries.

`send_batch` takes only a batch id (tasks take ids); one indexed read adds the mailing id and the
batch's delivery-id range, so every line of that task can be found by mailing or by delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlmw import logs


def batch_context(fields: Mapping[str, Any]) -> dict[str, Any]:
    batch_id = fields.get("batch_id")
    if not isinstance(batch_id, int):
        return {}
    from subscriptions.models import Batch

    row = (
        Batch.objects.filter(pk=batch_id)
        .values_list("mailing_id", "first_delivery_id", "last_delivery_id")
        .first()
    )
    if row is None:
        return {}
    mailing_id, first, last = row
    return {"mailing_id": mailing_id, "first_delivery_id": first, "last_delivery_id": last}


logs.register_enricher(batch_context)
