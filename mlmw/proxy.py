"""The visitor's address behind the deploy's proxies: the one client IP that rate limits, consent
records and login lockouts all use."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The visitor's IP: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address the outermost
    trusted proxy saw (counted from the right of X-Forwarded-For, which a client cannot forge)."""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        forwarded = [ip.strip() for ip in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [ip for ip in forwarded if ip]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR")
