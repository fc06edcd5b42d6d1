"""One message out and what its answer means, for every mailer: the release fan-out, the access
notices and the one-mail tasks (confirmation, access links).

- `classify(exc)`: what an error from sending means for the rest of a batch (a SendFailure).
- `send_one(message)`: one message to one recipient, the answer narrowed to that recipient.
- `send_each(messages, record)`: the one loop that sends a batch one message per recipient.
- `send_transactional(message)` and `MAIL_TASK_RETRY`: a one-mail task's send and its retry.
"""

from __future__ import annotations

import logging
import re
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from anymail.exceptions import (
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
)
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from mlmw.celery import DATABASE_ERRORS
from subscriptions.exceptions import SendFailure, retry_after_seconds

logger = logging.getLogger(__name__)

_ADDRESS = re.compile(r"[^\s<>\"'@,;:]+@[^\s<>\"',;:]+")
# Answers to a one-recipient message that are about the account, not that message: every other
# message of the batch would get the same, so the batch fails (as classify says) instead of each
# recipient in turn.
_ACCOUNT_REFUSALS = {401, 403, 404}  # bad key, not allowed, unknown sending domain
_REFUSED_STATUSES = {"rejected", "invalid", "failed"}


@dataclass
class Outcome:
    sent: dict[int, str]  # delivery id -> ESP message id
    failed: dict[int, str]  # delivery id -> reason (permanent)


def scrub(text: str) -> str:
    """`text` with every address replaced: errors go to the ledger, which keeps none (erasure
    could not find them)."""
    return _ADDRESS.sub("<address>", text)


def classify(exc: Exception) -> SendFailure:
    """What an error from sending means for the rest of the batch, for every kind of mailing.

    Not permanent (the batch is retried with backoff): 5xx, 408, 429 (with its Retry-After), no
    answer (timeouts, refused or dropped connections), and anything else that is not an ESP's
    answer. Permanent (the batch's queued deliveries fail): any other HTTP answer (4xx, an
    unreadable 200). No address survives into the text.
    """
    if not isinstance(exc, AnymailRequestsAPIError):
        prefix = "connection: " if isinstance(exc, OSError) else f"{type(exc).__name__}: "
        return SendFailure(f"{prefix}{scrub(str(exc))}"[:500], permanent=False, unknown=True)
    code = exc.status_code or 0
    if code in (408, 429) or code >= 500 or code == 0:
        response = getattr(exc, "response", None)
        retry_after = (
            None if response is None else retry_after_seconds(response.headers.get("Retry-After"))
        )
        if not code:  # no HTTP answer: a timeout, a refused or dropped connection
            cause = exc.__cause__ or exc
            detail = scrub(f"{type(cause).__name__}: {cause}")
            return SendFailure(f"no answer from the ESP: {detail}", permanent=False, unknown=True)
        return SendFailure(
            f"ESP answered {code}", permanent=False, retry_after=retry_after, throttled=code == 429
        )
    return SendFailure(f"ESP answered {code}: {scrub(str(exc))[:400]}", permanent=True)


def send_one(message: EmailMessage) -> str:
    """Send a message to one recipient; return the ESP's message id ("" when there is none).

    classify's reading, narrowed to one recipient: a refusal of this recipient (the ESP refuses it,
    reports it rejected, invalid or failed, or answers a 4xx about this message; the SMTP server
    refuses the recipient) raises a permanent SendFailure with `recipient_only`, and the rest of the
    batch goes on; a refusal for now (a 4xx to RCPT TO: greylisting, a full mailbox) raises one that
    is not permanent, with `recipient_only`. Errors that would be the same for every message raise
    SendFailure without it.
    """
    try:
        message.send()
    except AnymailRecipientsRefused:
        # The exception's text names the address: keep only what happened.
        raise _refused("refused by the ESP") from None
    except AnymailInvalidAddress:
        raise _refused("not a valid address for the ESP") from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        text = f"refused by the SMTP server ({', '.join(map(str, codes))})"
        if all(code >= 500 for code in codes):
            raise _refused(text) from None
        if 421 in codes:  # the server is closing the connection: every message after this fails too
            raise SendFailure(text, permanent=False, throttled=True) from None
        raise SendFailure(text, permanent=False, recipient_only=True) from None
    except smtplib.SMTPResponseException as exc:
        # An SMTP answer other than to RCPT TO. 4xx: try again later, for the batch (a 4xx at DATA
        # or MAIL FROM is the server's state as often as this message's). 5xx at DATA: this message
        # is refused (policy, size) and the others may pass; 5xx elsewhere (sender refused, sign-in
        # failed, greeting refused) would be the same for every message, like HTTP 401/403.
        code = exc.smtp_code
        if code < 500:
            raise SendFailure(f"SMTP server answered {code}", permanent=False) from None
        if isinstance(exc, smtplib.SMTPDataError):
            raise _refused(f"refused by the SMTP server ({code})") from None
        raise SendFailure(
            f"SMTP server answered {code}: {scrub(_smtp_text(exc))[:400]}", permanent=True
        ) from None
    except Exception as exc:
        error = classify(exc)
        code = getattr(exc, "status_code", None) or 0
        about_this_message = 400 <= code < 500 and code not in _ACCOUNT_REFUSALS
        if error.permanent and about_this_message:
            raise _refused(str(error)) from exc
        raise error from exc
    status = getattr(message, "anymail_status", None)
    if status is not None and status.status and status.status <= _REFUSED_STATUSES:
        raise _refused(f"ESP status {', '.join(sorted(status.status))}")
    return (status.message_id or "") if status is not None else ""


def send_each(
    messages: Iterable[tuple[int, EmailMessage]],
    record: Callable[[Outcome], None],
    accepted: Callable[[int, str], None] | None = None,
) -> Outcome:
    """Send a batch one message per recipient ((delivery id, message) pairs, read one at a time)
    over one connection, and return what happened.

    A recipient refused for good is failed and the batch goes on; one refused for now stays queued,
    and once the others are sent `record` gets the outcome and a SendFailure (not permanent) asks
    for the batch's retry. A failure about every message hands `record` what already went out, then
    is raised. `accepted(delivery id, message id)` runs right after each acceptance, for a sender
    that records each message at once.
    """
    sent: dict[int, str] = {}
    failed: dict[int, str] = {}
    deferred: list[str] = []
    with get_connection() as connection:
        for delivery_id, message in messages:
            message.connection = connection
            try:
                message_id = send_one(message)
            except SendFailure as exc:
                if not exc.recipient_only:
                    # Keep what already went out; the rest is retried (or failed for good).
                    record(Outcome(sent=sent, failed=failed))
                    raise
                if exc.permanent:
                    failed[delivery_id] = str(exc)
                else:
                    deferred.append(str(exc))  # stays queued for the batch's retry
                continue
            sent[delivery_id] = message_id
            if accepted is not None:
                accepted(delivery_id, message_id)
    if deferred:
        record(Outcome(sent=sent, failed=failed))
        raise SendFailure(f"{len(deferred)} deferred, e.g. {deferred[0]}", permanent=False)
    return Outcome(sent=sent, failed=failed)


# The retry of every task that sends one transactional mail (confirmation, access links, …): a few
# quick ones for a blip; a longer outage is waited out by the task's row (subscriptions.queued_tasks).
MAIL_TASK_RETRY = {
    # send_transactional lets out only the failures a retry can help.
    "autoretry_for": (OSError, SendFailure, *DATABASE_ERRORS),
    "retry_backoff": True,
    "max_retries": settings.MAIL_TASK_RETRIES,
}


def send_transactional(message: EmailMessage) -> bool:
    """Send a one-recipient transactional mail with send_one's reading of the answer: True when
    accepted; False, logged and not retried, when a retry cannot help (this address refused for
    good, or the account refused: retrying five times would only repeat it); a SendFailure that is
    not permanent (MAIL_TASK_RETRY retries the task) when it may pass later, a greylisting 4xx
    included."""
    try:
        send_one(message)
    except SendFailure as exc:
        if not exc.permanent:
            raise
        logger.error("a %r mail was not sent, for good: %s", scrub(message.subject), exc)
        return False
    return True


def _refused(text: str) -> SendFailure:
    return SendFailure(text, permanent=True, recipient_only=True)


def _smtp_text(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    return error.decode(errors="replace") if isinstance(error, bytes) else str(error)
