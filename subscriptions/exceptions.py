"""Every error of an outbound call (a mail, a channel post), in one module.

One failure type for every channel, as in Healthchecks' transports: `SendFailure` says whether a
retry can help (`permanent`) and how long the other side asked us to wait (`retry_after`). Each class
below is one thing a caller may need to tell apart; anymail's own exceptions are read into these
where they happen (subscriptions.sending.classify).
"""

from __future__ import annotations

import email.utils
from datetime import UTC

from django.utils import timezone


class SendFailure(Exception):
    """A mail or a post that did not go through (as far as we know)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        throttled: bool = False,
        unknown: bool = False,
        recipient_only: bool = False,
        response: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        # A retry cannot fix it (bad credentials, refused address, text refused).
        self.permanent = permanent
        # Seconds the other side asked us to wait (None: our own backoff).
        self.retry_after = retry_after
        # The other side asked us to slow down (HTTP 429, SMTP 421): waiting, not failing.
        self.throttled = throttled
        # No answer: the other side may have taken it.
        self.unknown = unknown
        # About this one recipient of a one-recipient message: the rest of the batch goes on.
        self.recipient_only = recipient_only
        self.response = response


class OutcomeUnknown(Exception):
    """The ESP took mail that the ledger could not record (the database stayed away)."""


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, says RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - timezone.now()).total_seconds())
