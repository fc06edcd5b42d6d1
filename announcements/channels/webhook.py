"""A generic JSON webhook: the release POSTed to each of WEBHOOK_URLS, signed with WEBHOOK_SECRET.

The proof that a channel is one module. Receivers verify
    X-MLMW-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under WEBHOOK_SECRET>
(reject old t to stop replays) and deduplicate on the payload's "id" (also in X-MLMW-Delivery): a
post whose answer was lost is sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

import httpx
from django.conf import settings

from announcements import texts
from announcements.channels.base import Channel, ChannelError, Posted
from subscriptions.exceptions import retry_after_seconds

if TYPE_CHECKING:
    from announcements.models import Announcement

SIGNATURE_HEADER = "X-MLMW-Signature"
DELIVERY_HEADER = "X-MLMW-Delivery"
EVENT = "release.published"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-MLMW-Signature value of `body` sent at `timestamp`."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def payload(announcement: Announcement) -> dict:
    version = announcement.version
    return {
        "event": EVENT,
        "id": f"announcement-{announcement.pk}",
        "guide": {
            "slug": version.guide.slug,
            "title": version.guide.title,
            "url": settings.SITE_URL + version.guide.get_absolute_url(),
        },
        "version": {
            "number": version.number,
            "title": version.title,
            "bump": version.bump,
            "published_at": version.published_at.isoformat() if version.published_at else None,
            "url": texts.version_url(version),
            "changelog": [{"kind": e.kind, "text": e.text} for e in version.entries.all()],
        },
    }


class Webhook(Channel):
    name = "webhook"
    label = "JSON webhook"
    retries_unknown_outcome = True  # receivers deduplicate on the delivery id

    def __init__(self, urls: list[str], secret: str) -> None:
        self.urls = urls
        self.secret = secret

    @classmethod
    def configured(cls) -> Webhook | None:
        if not (settings.WEBHOOK_URLS and settings.WEBHOOK_SECRET):
            return None
        return cls(settings.WEBHOOK_URLS, settings.WEBHOOK_SECRET)

    @classmethod
    def off_reason(cls) -> str:
        return "WEBHOOK_URLS and WEBHOOK_SECRET are not set"

    def targets(self) -> list[str]:
        return list(self.urls)

    def post(self, announcement: Announcement) -> Posted:
        body = json.dumps(payload(announcement), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "mlmw-webhook/1",
            SIGNATURE_HEADER: signature(self.secret, int(time.time()), body),
            DELIVERY_HEADER: f"announcement-{announcement.pk}",
        }
        try:
            with httpx.Client(timeout=settings.CHANNEL_TIMEOUT, follow_redirects=False) as client:
                response = client.post(announcement.target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ChannelError(
                f"no answer from the webhook: {type(exc).__name__}", permanent=False
            ) from exc
        code = response.status_code
        if 200 <= code < 300:
            return Posted(external_id=response.headers.get("X-Request-Id", "")[:200])
        if code in {408, 429} or code >= 500:
            raise ChannelError(
                f"webhook answered {code}",
                permanent=False,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                response=response,
            )
        raise ChannelError(f"webhook answered {code}", permanent=True, response=response)


CHANNEL = Webhook
