"""Asking the ESP which recipients of a batch it took, when our record of that was lost.

A batch's outcome is unknown when its worker died between the ESP call and the ledger commit (the
lease ran out), when the ledger could not be written after the call (the database stayed away), or
when the call got no answer (a timeout or a dropped connection after the ESP may have queued it).
Sending the batch again would mail twice whoever the ESP had taken. Where the ESP can tell, the
fan-out asks it first and sends only to the others (subscriptions.delivery):

- Mailgun: every batch call carries the user variable `mlmw-batch` (the batch id; each recipient's
  own `delivery` id travels as merge metadata), and the events API lists the `accepted` events of
  a batch: `GET /v3/<domain>/events?event=accepted&user-variables={"mlmw-batch": "<id>"}`, paged
  by `paging.next` until a page has no items (tests/data/mailgun_events_accepted.json). The
  filter is checked, not trusted: an event counts only if its variables name this batch and a
  delivery of it, for the address that delivery was sent to.

Other ESPs (SMTP, Postmark, …) cannot tell here: the batch is sent again, whole (docs/delivery.md
states that bound). MAIL_RECONCILE=off turns the question off.
"""

from __future__ import annotations

import json
from datetime import datetime

import requests
from django.conf import settings

from subscriptions.exceptions import SendFailure

BATCH_VARIABLE = "mlmw-batch"
DELIVERY_VARIABLE = "delivery"  # each recipient's merge metadata
_PAGE = 300  # Mailgun's largest page
_MAX_PAGES = 10  # a batch has at most 1000 recipients: more pages means the filter was ignored


def available() -> bool:
    if settings.MAIL_RECONCILE == "off":
        return False
    return "mailgun" in settings.EMAIL_BACKEND.lower() and bool(settings.MAIL_MERGE_PLACEHOLDER)


def accepted(batch_id: int, since: datetime) -> dict[int, tuple[str, str]] | None:
    """{delivery id: (recipient address, ESP message id)} of the batch's recipients the ESP
    accepted since `since`; None where this ESP cannot tell. A SendFailure (not permanent, outcome
    unknown: try later) when it did not answer, or answered what we cannot read."""
    if not available():
        return None
    options = settings.ANYMAIL
    api_url = options.get("MAILGUN_API_URL", "https://api.mailgun.net/v3").rstrip("/")
    domain = options.get("MAILGUN_SENDER_DOMAIN") or settings.DEFAULT_FROM_EMAIL.rpartition("@")[
        2
    ].rstrip(">")
    url: str | None = f"{api_url}/{domain}/events"
    params: dict | None = {
        "event": "accepted",
        "user-variables": json.dumps({BATCH_VARIABLE: str(batch_id)}),
        "begin": f"{since.timestamp():.0f}",
        "ascending": "yes",
        "limit": _PAGE,
    }
    taken: dict[int, tuple[str, str]] = {}
    for _page in range(_MAX_PAGES):
        try:
            response = requests.get(
                url,
                params=params,
                auth=("api", options.get("MAILGUN_API_KEY", "")),
                timeout=options.get("REQUESTS_TIMEOUT", 30),
            )
            response.raise_for_status()
            body = response.json()
            items = body["items"]
            url, params = body["paging"]["next"], None
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            raise SendFailure(
                f"asking the ESP what it took: {type(exc).__name__} from the events API",
                permanent=False,
                unknown=True,
            ) from exc
        if not items:
            return taken
        for event in items:
            variables = event.get("user-variables") or {}
            delivery = str(variables.get(DELIVERY_VARIABLE, ""))
            if variables.get(BATCH_VARIABLE) != str(batch_id) or not delivery.isdigit():
                continue
            headers = (event.get("message") or {}).get("headers") or {}
            message_id = headers.get("message-id", "")
            taken[int(delivery)] = (
                str(event.get("recipient", "")),
                f"<{message_id}>" if message_id else "",
            )
    return None  # page after page: the filter was not applied, so this answer cannot be read
