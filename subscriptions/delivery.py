"""The release fan-out: from a published version to one mail per recipient, once.

Stages, each safe to run twice:

1. `create_mailing(version)` runs inside publish()'s transaction (a `version_published` receiver): the
   Mailing row exists if and only if the publish committed. `start_mailing` is enqueued on commit.
2. `start_chunk(mailing_id)` claims the mailing (pending → sending, fixing started_at and the highest
   subscriber id), then writes one window of MAIL_AUDIENCE_CHUNK subscriber ids per call, in one
   transaction: one Delivery per recipient (confirmed subscribers of the guide whose cadence includes
   the bump, each with their baseline: the last version of the guide they were mailed, or the one
   that was live when they started following it; nobody whose baseline is this version or newer), cut
   into Batches of MAIL_BATCH_SIZE that share a baseline. The start_mailing task enqueues the next window,
   then this window's send_batch tasks.
3. `send_batch(batch_id)` claims its batch (queued → sending, a conditional update), re-reads each
   recipient's status (someone who unsubscribed after publication gets nothing), renders the batch's
   variant once (catch_up(baseline, version), cached per process), sends it with one ESP call where
   the ESP merges per-recipient fields (anymail merge_data / merge_headers), or one message per
   recipient otherwise (SMTP), in one transaction marks the deliveries sent with the ESP's message
   ids and moves the recipients' baselines forward, then closes the batch.
4. `sweep()` (beat, every MAIL_SWEEP_INTERVAL s) re-enqueues what a crash or a broker flush lost:
   pending mailings and stalled audience writing, batches whose lease expired while sending, and
   queued batches whose task never ran.

Guarantees are written down in docs/delivery.md (summed up in docs/ARCHITECTURE.md, "Guarantees").
"""

from __future__ import annotations

import html
import logging
import random
import re
import smtplib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from anymail.exceptions import (
    AnymailAPIError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
)
from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.db import InterfaceError, OperationalError, transaction
from django.db import connection as db
from django.db.models import Count, F, Max, Min, Q
from django.urls import reverse
from django.utils import timezone

from guide.catchup import catch_up
from guide.models import Version
from subscriptions import emails, mailkinds, reconcile, release_mail, tokens
from subscriptions.exceptions import OutcomeUnknown, SendFailure, retry_after_seconds
from subscriptions.models import CADENCE_BUMPS, Baseline, Batch, Delivery, Mailing, Subscriber

logger = logging.getLogger(__name__)

# What a statement on a lost database connection raises (PostgreSQL restarted or failed over, the
# backend terminated).
DATABASE_ERRORS = (OperationalError, InterfaceError)

# Per-recipient fields are rendered into the variant as markers, then replaced by the ESP's merge
# placeholder (one render for a whole batch) or by each recipient's value (SMTP).
PERSONAL_FIELDS = ("unsubscribe_url", "manage_url")


def marker(name: str) -> str:
    # Letters, digits and hyphens only: survives HTML escaping and CSS inlining unchanged.
    return f"MLMWVAR-{name.replace('_', '-')}-MLMWVAR"


# --- 1. Publishing creates the mailing ---------------------------------------------------------------


def create_mailing(version: Version) -> Mailing:
    """Called inside publish()'s transaction; the start is enqueued for after the commit."""
    from subscriptions.tasks import start_mailing

    mailing, _ = Mailing.objects.get_or_create(version=version)
    transaction.on_commit(lambda: start_mailing.delay(mailing.pk), robust=True)
    return mailing


def on_version_published(sender, version: Version, **kwargs) -> None:
    """Receiver of guide.publishing.version_published (connected in SubscriptionsConfig.ready)."""
    create_mailing(version)


# --- 2. Fixing the audience --------------------------------------------------------------------------


def _table(model) -> str:
    return db.ops.quote_name(model._meta.db_table)


@dataclass
class StartStep:
    batch_ids: list[int]  # the batches this step wrote, to enqueue
    more: bool  # the audience is not all written yet: run start_chunk again


def start(mailing_id: int) -> list[int]:
    """Write the whole audience of a mailing, chunk after chunk; return every batch id written."""
    batch_ids: list[int] = []
    while True:
        step = start_chunk(mailing_id)
        batch_ids += step.batch_ids
        if not step.more:
            return batch_ids


def start_chunk(mailing_id: int) -> StartStep:
    """Claim a pending mailing (fixing when its audience was taken), then write the deliveries and
    batches of its next window of MAIL_AUDIENCE_CHUNK subscriber ids, in one transaction.

    Chunks let sending begin after the first window instead of after the whole list (at 1M
    recipients, writing every row in one transaction took ~40 s, the deferred foreign-key checks of
    its commit half of it), and keep each transaction short. The audience is still fixed at the
    start: subscribers whose id existed then (audience_end) and who were confirmed by then
    (confirmed_at <= started_at); the chunks only decide when each part of it is written. Chunks are
    serialised by the mailing's row lock and each moves audience_cursor in the transaction that
    writes its rows, so a rerun (a redelivered task, the sweeper) continues where the last commit
    left off and never writes a window twice. Another app's kind of mailing is written whole, at
    once (_start_registered).
    """
    kind = Mailing.objects.filter(pk=mailing_id).values_list("kind", flat=True).first()
    if kind is not None and kind != Mailing.Kind.RELEASE:
        return StartStep(batch_ids=_start_registered(mailing_id), more=False)
    ids = Subscriber.objects.aggregate(first=Min("pk"), last=Max("pk"))
    Mailing.objects.filter(pk=mailing_id, status=Mailing.Status.PENDING).update(
        status=Mailing.Status.SENDING,
        started_at=timezone.now(),
        audience_cursor=(ids["first"] or 1) - 1,
        audience_end=ids["last"] or 0,
        audience_updated_at=timezone.now(),
    )
    with transaction.atomic():
        mailing = (
            Mailing.objects.select_for_update(of=("self",))
            .select_related("version")
            .filter(pk=mailing_id)
            .first()
        )
        if (
            mailing is None
            or mailing.audience_complete
            or mailing.status not in (Mailing.Status.SENDING, Mailing.Status.PAUSED)
        ):
            return StartStep(batch_ids=[], more=False)  # done, cancelled, or not ours
        low = mailing.audience_cursor
        high = min(low + settings.MAIL_AUDIENCE_CHUNK, mailing.audience_end)
        batch_ids, written = _write_chunk(mailing, low, high)
        complete = high >= mailing.audience_end
        now = timezone.now()
        Mailing.objects.filter(pk=mailing.pk).update(
            audience_cursor=high,
            audience_size=F("audience_size") + written,
            audience_complete=complete,
            audience_updated_at=now,
        )
    if written and mailing.audience_size == 0 and db.vendor == "postgresql":
        # Statistics before any batch is read: until autovacuum gets to the table the planner knows
        # nothing of this mailing's rows and may read a batch through the (mailing, subscriber)
        # index (every row of the mailing) instead of the primary key range. ANALYZE samples a
        # fixed number of rows: ~0.1 s at any size. Once, after the first chunk, is enough.
        with db.cursor() as cursor:
            cursor.execute(f"ANALYZE {_table(Delivery)}")
    if complete:
        finish_mailing_if_done(mailing_id)  # an empty audience (or a tail of empty windows)
    logger.info(
        "mailing %s: subscribers %s-%s written, %s recipients, %s batches%s",
        mailing_id, low + 1, high, written, len(batch_ids), "" if complete else ", more to come",
    )  # fmt: skip
    return StartStep(batch_ids=batch_ids, more=not complete)


def _write_chunk(mailing: Mailing, low: int, high: int) -> tuple[list[int], int]:
    """Deliveries for the audience members with low < id <= high, and their batches (per baseline,
    consecutive runs of MAIL_BATCH_SIZE by id); returns (batch ids, deliveries written).

    On PostgreSQL one statement does both (the batches are cut from the INSERT's RETURNING, no second
    read of the rows); elsewhere (SQLite: `make run`), which has no INSERT inside WITH, two.
    """
    version = mailing.version
    cadences = [c for c, bumps in CADENCE_BUMPS.items() if version.bump_level() in bumps]
    through = Subscriber.guides.through
    placeholders = ", ".join(["%s"] * len(cadences))
    # Baselines at or above this version: someone who started following the guide (confirmed, or
    # gained it) after the publish committed but before this window was written, or whom a newer
    # mailing of the guide already reached (two publishes in quick succession). This version is
    # old news to them; a mail would be empty or, worse, a diff backwards. A handful of ids.
    caught_up = list(Version.objects.at_or_above(version).values_list("pk", flat=True))
    caught_up_placeholders = ", ".join(["%s"] * len(caught_up))
    insert_deliveries = f"""
        INSERT INTO {_table(Delivery)}
            (mailing_id, subscriber_id, since_version_id, status, esp_message_id, error)
        SELECT %s, s.id, b.version_id, %s, '', ''
        FROM {_table(Subscriber)} s
        JOIN {_table(through)} sg ON sg.subscriber_id = s.id AND sg.guide_id = %s
        LEFT JOIN {_table(Baseline)} b ON b.subscriber_id = s.id AND b.guide_id = %s
        WHERE s.id > %s AND s.id <= %s AND s.status = %s AND s.confirmed_at <= %s
          AND s.cadence IN ({placeholders})
          AND (b.version_id IS NULL OR b.version_id NOT IN ({caught_up_placeholders}))
        ORDER BY COALESCE(b.version_id, 0), s.id
        ON CONFLICT (mailing_id, subscriber_id) DO NOTHING
    """  # noqa: S608 - table names from model metadata, values as parameters
    delivery_params = [
        mailing.pk, Delivery.Status.QUEUED, version.guide_id, version.guide_id,
        low, high, Subscriber.Status.CONFIRMED, mailing.started_at, *cadences, *caught_up,
    ]  # fmt: skip

    def insert_batches(rows: str) -> str:
        return f"""
            INSERT INTO {_table(Batch)}
                (mailing_id, since_version_id, first_delivery_id, last_delivery_id, size,
                 status, attempts, last_error, enqueued_at)
            SELECT %s, since, MIN(id), MAX(id), COUNT(*), %s, 0, '', %s
            FROM (
                SELECT id, since_version_id AS since,
                       (ROW_NUMBER() OVER (PARTITION BY since_version_id ORDER BY id) - 1) / %s
                       AS bucket
                FROM {rows}
            ) numbered
            GROUP BY since, bucket
            ORDER BY MIN(id)
        """  # noqa: S608

    batch_params = [mailing.pk, Batch.Status.QUEUED, timezone.now(), settings.MAIL_BATCH_SIZE]

    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            cursor.execute(
                f"WITH written AS ({insert_deliveries} RETURNING id, since_version_id) "
                f"{insert_batches('written')} RETURNING id, size",
                delivery_params + batch_params,
            )
            rows = cursor.fetchall()
        else:
            before = Batch.objects.filter(mailing=mailing).aggregate(last=Max("last_delivery_id"))
            after = before["last"] or 0
            cursor.execute(insert_deliveries, delivery_params)
            cursor.execute(
                insert_batches(
                    f"(SELECT id, since_version_id FROM {_table(Delivery)} "  # noqa: S608
                    f"WHERE mailing_id = {int(mailing.pk)} AND id > {int(after)})"
                ),
                batch_params,
            )
            rows = list(
                Batch.objects.filter(mailing=mailing, first_delivery_id__gt=after)
                .order_by("first_delivery_id")
                .values_list("id", "size")
            )
    return [batch_id for batch_id, _size in rows], sum(size for _batch_id, size in rows)


# --- 3. Sending a batch ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    subject: str
    text: str
    html: str


def release_context(since: Version | None, version: Version) -> dict:
    """The release mail's template context for a reader whose baseline is `since`, at the full item
    limit and without the personal links (the fan-out fills those per recipient; the naive bench
    loop per message). render_variant renders it within the size budget."""
    return release_mail.context(catch_up(since, version))


@lru_cache(maxsize=32)
def render_variant(since_id: int | None, version_id: int) -> Variant:
    """The release mail for everyone whose baseline is `since_id`, with personal fields as markers,
    cut to fit the size budget (release_mail.render).

    Published versions never change, so the cache needs no invalidation.
    """
    version = Version.objects.select_related("guide").get(pk=version_id)
    since = Version.objects.get(pk=since_id) if since_id else None
    personal = {name: marker(name) for name in PERSONAL_FIELDS}
    mail = release_mail.render(catch_up(since, version), personal)
    return Variant(subject=mail.subject, text=mail.text, html=mail.html)


def personal_values(subscriber: Subscriber | Recipient) -> dict[str, str]:
    return emails.subscriber_links(subscriber)


# How emails.subscriber_links builds each personal link: URL name and token. _personal_values_many
# checks itself against personal_values on each batch's first recipient, so a change there is
# followed (slowly) rather than sent wrong.
_LINKS = {
    "unsubscribe_url": ("subscriptions:unsubscribe", "unsubscribe"),  # tokens.link_token_makers()
    "manage_url": ("subscriptions:manage", "manage"),
}
_TOKEN_STAND_IN = "MLMWTOKEN"  # noqa: S105 - not a secret


def _personal_values_many(subscribers: list[Recipient]) -> list[dict[str, str]]:
    """personal_values() of each subscriber, with each link reversed once for all of them.

    reverse() costs more than signing the token (two of each per recipient were a third of a
    batch's time); the links differ only in the token, which reverse() leaves as is (signing's
    alphabet is URL-safe), so each link is reversed once with a stand-in that is then replaced.
    """
    if not subscribers:
        return []
    makers = tokens.link_token_makers()
    links = [
        (name, emails.absolute(reverse(url_name, args=[_TOKEN_STAND_IN])), makers[token])
        for name, (url_name, token) in _LINKS.items()
    ]

    def fast(subscriber: Recipient) -> dict[str, str]:
        return {
            name: shape.replace(_TOKEN_STAND_IN, make(subscriber)) for name, shape, make in links
        }

    if fast(subscribers[0]) != personal_values(subscribers[0]):
        logger.warning("personal links are not built as _LINKS says; using personal_values()")
        return [personal_values(subscriber) for subscriber in subscribers]
    return [fast(subscriber) for subscriber in subscribers]


def _fill(text: str, values: dict[str, str], *, escape: bool) -> str:
    for name, value in values.items():
        text = text.replace(marker(name), html.escape(value) if escape else value)
    return text


def _merge_placeholder(name: str) -> str:
    return settings.MAIL_MERGE_PLACEHOLDER.format(name)


def claim(batch_id: int) -> Batch | None:
    """Take the batch for this worker, or None if it is not ours to send (done, claimed, paused)."""
    claimed = Batch.objects.filter(
        pk=batch_id, status=Batch.Status.QUEUED, mailing__status=Mailing.Status.SENDING
    ).update(status=Batch.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1)
    if not claimed:
        return None
    return Batch.objects.select_related("mailing__version__guide").get(pk=batch_id)


def batch_deliveries(batch: Batch):
    """The deliveries a batch covers: its mailing, its baseline, its id range (an index range scan)."""
    return Delivery.objects.filter(
        mailing_id=batch.mailing_id,
        id__gte=batch.first_delivery_id,
        id__lte=batch.last_delivery_id,
        since_version_id=batch.since_version_id,
    )


@dataclass(frozen=True, slots=True)
class Recipient:
    """What sending needs of one delivery and its subscriber: read as plain values, not model
    instances (building 2000 of those was a seventh of a batch's time)."""

    delivery_id: int
    subscriber_id: int
    email: str
    uid: uuid.UUID


def _recipients(batch: Batch) -> tuple[list[Recipient], list[int]]:
    """Queued deliveries of the batch whose subscriber is still confirmed; ids of the others."""
    rows = (
        batch_deliveries(batch)
        .filter(status=Delivery.Status.QUEUED)
        .order_by("id")
        .values_list("id", "subscriber_id", "subscriber__email", "subscriber__uid",
                     "subscriber__status")
    )  # fmt: skip
    send, skip = [], []
    for delivery_id, subscriber_id, address, uid, status in rows:
        if subscriber_id is None or status != Subscriber.Status.CONFIRMED:
            skip.append(delivery_id)
        else:
            send.append(Recipient(delivery_id, subscriber_id, address, uid))
    return send, skip


def _list_headers() -> dict[str, str]:
    return {
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": settings.LIST_ID,
        "Auto-Submitted": "auto-generated",
    }


def _unsubscribe_header(unsubscribe_url: str, subscriber: Subscriber | Recipient) -> str:
    return f"<{unsubscribe_url}>"  # HTTPS one-click only: no code reads a mailto: mailbox


@dataclass
class Outcome:
    sent: dict[int, str]  # delivery id -> ESP message id
    failed: dict[int, str]  # delivery id -> reason (permanent)


def _send_merged(
    variant: Variant, deliveries: list[Recipient], conn, mailing_id: int, batch_id: int = 0
) -> Outcome:
    """One ESP call for the whole batch, personal fields through the ESP's merge variables. The
    batch id travels as a message-wide variable, each delivery id as a recipient's: what the ESP
    can be asked about later (subscriptions.reconcile)."""
    placeholders = {name: _merge_placeholder(name) for name in PERSONAL_FIELDS}
    message = EmailMultiAlternatives(
        subject=_fill(variant.subject, placeholders, escape=False),
        body=_fill(variant.text, placeholders, escape=False),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[d.email for d in deliveries],
        headers=_list_headers(),
        connection=conn,
    )
    message.attach_alternative(_fill(variant.html, placeholders, escape=False), "text/html")
    mailkinds.identify(message, "release")
    merge_data, merge_headers, merge_metadata = {}, {}, {}
    personal = _personal_values_many(deliveries)
    for d, values in zip(deliveries, personal, strict=True):
        merge_data[d.email] = values
        merge_headers[d.email] = {
            "List-Unsubscribe": _unsubscribe_header(values["unsubscribe_url"], d)
        }
        merge_metadata[d.email] = {reconcile.DELIVERY_VARIABLE: str(d.delivery_id)}
    message.merge_data = merge_data
    message.merge_headers = merge_headers
    message.merge_metadata = merge_metadata
    message.metadata = {reconcile.BATCH_VARIABLE: str(batch_id)}
    try:
        message.send()
    except AnymailRecipientsRefused:
        # Every recipient refused (invalid or suppressed at the ESP): permanent for each.
        # The exception's text names the addresses: keep only what happened, never the address.
        return Outcome(sent={}, failed={d.delivery_id: "refused by the ESP" for d in deliveries})
    except (AnymailAPIError, OSError) as exc:
        raise classify(exc) from exc
    statuses = message.anymail_status.recipients
    sent, failed = {}, {}
    for d in deliveries:
        status = statuses.get(d.email)
        if status is not None and status.status in {"rejected", "invalid", "failed"}:
            failed[d.delivery_id] = f"ESP status {status.status}"
        else:
            sent[d.delivery_id] = (status.message_id if status else None) or ""
    return Outcome(sent=sent, failed=failed)


def classify(exc: Exception) -> SendFailure:
    """What an error from sending means for the rest of the batch, for every kind of mailing.

    Transient (the batch is retried with backoff): 5xx, 408, 429 (with its Retry-After), no answer
    (timeouts, refused or dropped connections), and anything else that is not an ESP's answer.
    Permanent (the batch's queued deliveries fail): any other HTTP answer (4xx, an unreadable 200).
    No address survives into the text: it goes to the ledger, which keeps none (erasure could not
    find it).
    """
    if not isinstance(exc, AnymailRequestsAPIError):
        prefix = "connection: " if isinstance(exc, OSError) else f"{type(exc).__name__}: "
        return SendFailure(f"{prefix}{_scrub(str(exc))}"[:500], permanent=False, unknown=True)
    code = exc.status_code or 0
    if code in (408, 429) or code >= 500 or code == 0:
        response = getattr(exc, "response", None)
        retry_after = (
            None if response is None else retry_after_seconds(response.headers.get("Retry-After"))
        )
        if not code:  # no HTTP answer: a timeout, a refused or dropped connection
            cause = exc.__cause__ or exc
            detail = _scrub(f"{type(cause).__name__}: {cause}")
            return SendFailure(f"no answer from the ESP: {detail}", permanent=False, unknown=True)
        return SendFailure(
            f"ESP answered {code}", permanent=False, retry_after=retry_after, throttled=code == 429
        )
    return SendFailure(f"ESP answered {code}: {_scrub(str(exc))[:400]}", permanent=True)


# Answers to a one-recipient message that are about the account, not that message: every other
# message of the batch would get the same, so the batch fails (as classify says) instead of each
# recipient in turn.
_ACCOUNT_REFUSALS = {401, 403, 404}  # bad key, not allowed, unknown sending domain
_REFUSED_STATUSES = {"rejected", "invalid", "failed"}


def send_one(message: EmailMessage) -> str:
    """Send a message to one recipient; return the ESP's message id ("" when there is none).

    The one classification of send errors (classify), narrowed to one recipient, that every
    one-message-per-recipient sender shares (release mail over SMTP, access notices): a refusal of
    this recipient (the ESP refuses it, reports it rejected, invalid or failed, or answers a 4xx
    about this message; the SMTP server refuses the recipient) raises a permanent SendFailure with
    `recipient_only`, and the rest of the batch goes on; a refusal for now (a 4xx to RCPT TO:
    greylisting, a full mailbox) a transient one with `recipient_only`. Errors that would be the
    same for every message raise SendFailure without it, after which the caller records what
    already went out and re-raises.
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
            f"SMTP server answered {code}: {_scrub(_smtp_text(exc))[:400]}", permanent=True
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


def _refused(text: str) -> SendFailure:
    return SendFailure(text, permanent=True, recipient_only=True)


# The retry of every task that sends one transactional mail (confirmation, access links, …).
MAIL_TASK_RETRY = {
    # send_transactional lets only the failures a retry can help out.
    "autoretry_for": (OSError, SendFailure, *DATABASE_ERRORS),
    "retry_backoff": True,
    "max_retries": 5,
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
        logger.error("a %r mail was not sent, for good: %s", _scrub(message.subject), exc)
        return False
    return True


def _smtp_text(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    return error.decode(errors="replace") if isinstance(error, bytes) else str(error)


def _scrub(text: str) -> str:
    return _ADDRESS.sub("<address>", text)


_ADDRESS = re.compile(r"[^\s<>\"'@,;:]+@[^\s<>\"',;:]+")


def _send_single(
    variant: Variant, deliveries: list[Recipient], conn, mailing_id: int, batch_id: int = 0
) -> Outcome:
    """One message per recipient (SMTP): the variant's markers filled with each recipient's values."""
    sent, failed, deferred = {}, {}, []
    personal = _personal_values_many(deliveries)
    for index, (d, values) in enumerate(zip(deliveries, personal, strict=True)):
        message = EmailMultiAlternatives(
            subject=_fill(variant.subject, values, escape=False),
            body=_fill(variant.text, values, escape=False),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[d.email],
            headers={
                **_list_headers(),
                "List-Unsubscribe": _unsubscribe_header(values["unsubscribe_url"], d),
            },
            connection=conn,
        )
        message.attach_alternative(_fill(variant.html, values, escape=True), "text/html")
        mailkinds.identify(message, "release")
        try:
            sent[d.delivery_id] = send_one(message)
        except SendFailure as exc:
            if not exc.recipient_only:
                # Keep what already went out; the rest of the batch is retried (or failed for good).
                _record(mailing_id, Outcome(sent=sent, failed=failed), deliveries[:index])
                raise
            if exc.permanent:
                failed[d.delivery_id] = str(exc)
            else:
                deferred.append(str(exc))  # stays queued for the batch's retry
    if deferred:
        _record(mailing_id, Outcome(sent=sent, failed=failed), deliveries)
        raise SendFailure(f"{len(deferred)} deferred, e.g. {deferred[0]}", permanent=False)
    return Outcome(sent=sent, failed=failed)


def _record(mailing_id: int, outcome: Outcome, deliveries: Iterable[Recipient]) -> None:
    """Write what happened to these deliveries and move the baselines of the sent ones forward."""
    if not outcome.sent and not outcome.failed:
        return
    now = timezone.now()
    by_id = {d.delivery_id: d for d in deliveries}

    def write() -> None:
        with transaction.atomic():
            mark(outcome, now)
            mailing = Mailing.objects.select_related("version").get(pk=mailing_id)
            sent = [by_id[i].subscriber_id for i in outcome.sent if i in by_id]
            _move_baselines(sent, mailing.version.guide_id, mailing.version_id, now)

    durably(write)


def durably(write: Callable[[], None]) -> None:
    """Run a ledger write, again on a new connection while the database is away, for up to half
    the task time limit. The ESP has taken these mails: every write that gets through here is a
    batch whose outcome stays known. A write whose COMMIT was lost may have landed; writing it
    again changes nothing (only queued rows move, baselines only forward)."""
    deadline = time.monotonic() + settings.CELERY_TASK_TIME_LIMIT / 2
    pause = 0.5
    while True:
        try:
            write()
            return
        except DATABASE_ERRORS as exc:
            if time.monotonic() + pause > deadline:
                raise OutcomeUnknown(f"ledger not written: {type(exc).__name__}") from exc
            logger.warning("ledger write failed (%s); again in %.1fs", exc, pause)
            db.close()
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def mark(outcome: Outcome, now) -> None:
    """Write the ledger: sent deliveries with their ESP message ids, failed ones with the reason."""
    by_message: dict[str, list[int]] = {}
    for delivery_id, message_id in outcome.sent.items():
        by_message.setdefault(message_id, []).append(delivery_id)
    for message_id, ids in by_message.items():
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SENT, esp_message_id=message_id[:200], sent_at=now
        )
    for delivery_id, reason in outcome.failed.items():
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.FAILED, error=reason[:500]
        )


def _move_baselines(subscriber_ids: list[int], guide_id: int, version_id: int, now) -> None:
    """Upsert the baselines of the subscribers among `subscriber_ids` that still exist.

    Someone erased while their batch was at the ESP has no baseline to move: a row for them would
    fail the whole transaction at commit (the foreign key), leaving the batch `sending`, to be sent
    again, whole, once its lease ran out. Called after _record's delivery updates: erasure updates
    the same delivery rows first, so the two are serialised and the check below cannot go stale.
    """
    if not subscriber_ids:
        return
    # A baseline only moves forward: a late batch of an older mailing, finishing after a newer
    # mailing's, must not make the next mail repeat changes already sent.
    if db.vendor != "postgresql":
        subscriber_ids = list(
            Subscriber.objects.filter(pk__in=subscriber_ids).values_list("pk", flat=True)
        )
        Baseline.objects.bulk_create(
            [
                Baseline(subscriber_id=s, guide_id=guide_id, version_id=version_id, updated_at=now)
                for s in subscriber_ids
            ],
            ignore_conflicts=True,
        )
        target = Version.objects.get(pk=version_id)
        older = Version.objects.filter(guide_id=guide_id).exclude(
            pk__in=Version.objects.at_or_above(target).values("pk")
        )
        Baseline.objects.filter(
            subscriber_id__in=subscriber_ids, guide_id=guide_id, version__in=older
        ).update(version_id=version_id, updated_at=now)
        return
    # The same upsert from one array parameter: a third of bulk_create's cost for 1000 rows (no
    # model instances, no 4000 parameters to bind).
    with db.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_table(Baseline)} (subscriber_id, guide_id, version_id, updated_at)
            SELECT s.id, %s, %s, %s FROM {_table(Subscriber)} s WHERE s.id = ANY(%s::bigint[])
            ON CONFLICT (subscriber_id, guide_id)
            DO UPDATE SET version_id = EXCLUDED.version_id, updated_at = EXCLUDED.updated_at
            WHERE (SELECT ARRAY[o.major, o.minor, o.patch] FROM {_table(Version)} o
                   WHERE o.id = {_table(Baseline)}.version_id)
                < (SELECT ARRAY[n.major, n.minor, n.patch] FROM {_table(Version)} n
                   WHERE n.id = EXCLUDED.version_id)
            """,  # noqa: S608 - table name from model metadata, values as parameters
            [guide_id, version_id, now, subscriber_ids],
        )


def send(batch_id: int) -> float | None:
    """Send one batch. Returns None when finished with it, or seconds to wait before a retry."""
    batch = claim(batch_id)
    if batch is None:
        return None
    try:
        return _send_claimed(batch)
    except DATABASE_ERRORS:
        # The connection was lost before the ESP call, or after the ledger was written (a lost
        # ledger write raises OutcomeUnknown instead): hand the batch back at once, on a new
        # connection, rather than leave it to its lease. The task is retried (DATABASE_RETRY).
        _hand_back(batch)
        raise


def _send_claimed(batch: Batch) -> float | None:
    if batch.attempts > settings.MAIL_BATCH_MAX_ATTEMPTS and not _within_wait(batch):
        # Claimed again and again without finishing (its worker keeps dying, or something
        # unexpected keeps failing): stop, so the mailing ends and nothing is resent forever. A
        # batch the ESP keeps answering "not now" is bounded by MAIL_GIVE_UP_AFTER instead.
        _give_up(batch, f"gave up after {batch.attempts - 1} attempts")
        _finish(batch)
        return None
    mailing = batch.mailing
    if mailing.kind != Mailing.Kind.RELEASE:
        return _send_registered(batch)
    deliveries, skipped = _recipients(batch)
    if skipped:
        Delivery.objects.filter(pk__in=skipped, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SKIPPED, error="not subscribed any more"
        )

    def send_and_record() -> None:
        rest = _reconcile(batch, deliveries) if batch.outcome_unknown else deliveries
        if not rest:
            return
        variant = render_variant(batch.since_version_id, mailing.version_id)
        sender = _send_merged if settings.MAIL_MERGE_PLACEHOLDER else _send_single
        with get_connection() as conn:
            outcome = sender(variant, rest, conn, mailing.pk, batch.pk)
        _record(mailing.pk, outcome, rest)

    return _attempt(batch, len(deliveries), send_and_record)


def _reconcile(batch: Batch, deliveries: list[Recipient]) -> list[Recipient]:
    """The recipients of a batch whose last outcome is unknown that the ESP did not take: the
    ones it took are recorded sent (with its message ids) first. All of them where the ESP cannot
    tell; SendFailure (retry later, nothing sent) when it did not answer."""
    taken = reconcile.accepted(batch.pk, since=batch.mailing.started_at - timedelta(minutes=5))
    if taken is None:
        logger.warning("batch %s: outcome unknown and the ESP cannot tell; sent again", batch.pk)
    else:
        sent = {
            d.delivery_id: taken[d.delivery_id][1]
            for d in deliveries
            if d.delivery_id in taken and taken[d.delivery_id][0].lower() == d.email.lower()
        }
        _record(batch.mailing_id, Outcome(sent=sent, failed={}), deliveries)
        deliveries = [d for d in deliveries if d.delivery_id not in sent]
        logger.warning(
            "batch %s: outcome unknown; the ESP had taken %s, %s left to send",
            batch.pk, len(sent), len(deliveries),
        )  # fmt: skip
    Batch.objects.filter(pk=batch.pk).update(outcome_unknown=False)
    return deliveries


def _hand_back(batch: Batch) -> None:
    db.close()
    try:
        _release(batch, "database connection lost", countdown=0, attempted=False)
    except DATABASE_ERRORS as exc:
        logger.warning(
            "batch %s: left to its lease, the database is still away (%s)", batch.pk, exc
        )


def _attempt(batch: Batch, count: int, send_and_record: Callable[[], None]) -> float | None:
    """What sending a claimed batch of any kind of mailing shares: the global send rate, a retry
    with backoff or giving up on errors, and closing the batch. None when done with the batch, or
    seconds to wait before the retry that has been arranged (its task is enqueued by the caller)."""
    try:
        if count:
            wait = throttle(count)
            if wait:
                # Not an attempt: waiting for the send rate must not use up MAIL_BATCH_MAX_ATTEMPTS.
                _release(batch, "send rate limit", countdown=wait, attempted=False)
                return wait
            send_and_record()
    except SendFailure as exc:
        if exc.permanent:
            _give_up(batch, str(exc))
            _finish(batch)
            return None
        now = timezone.now()
        since = batch.waiting_since or now
        if not _out_of_time(batch, since, now):
            wait = exc.retry_after or backoff(batch.attempts)
            # The ESP's "slow down" (429, SMTP 421) is waiting, not an attempt. In-process (no
            # broker) a retry cannot wait, so there every answer counts.
            attempted = not exc.throttled or settings.CELERY_TASK_ALWAYS_EAGER
            _release(
                batch,
                str(exc),
                countdown=wait,
                attempted=attempted,
                waiting_since=since,
                outcome_unknown=exc.unknown,
            )
            return wait
        _give_up(batch, f"{exc} (still after {_duration((now - since).total_seconds())})")
    _finish(batch)
    return None


def _out_of_time(batch: Batch, since, now) -> bool:
    """Whether a batch the ESP keeps answering "not now" is given up: after MAIL_GIVE_UP_AFTER
    seconds of such answers (hours: an ESP outage or a long rate limit is waited out), or, where a
    retry cannot wait (in-process, no broker), after MAIL_BATCH_MAX_ATTEMPTS attempts."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return batch.attempts >= settings.MAIL_BATCH_MAX_ATTEMPTS
    return (now - since).total_seconds() >= settings.MAIL_GIVE_UP_AFTER


def _within_wait(batch: Batch) -> bool:
    """The batch is waiting out the ESP's "not now" answers, within MAIL_GIVE_UP_AFTER."""
    if batch.waiting_since is None or settings.CELERY_TASK_ALWAYS_EAGER:
        return False
    return not _out_of_time(batch, batch.waiting_since, timezone.now())


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: 0..min(cap, base·2^attempt) seconds."""
    ceiling = min(settings.MAIL_RETRY_MAX_SECONDS, settings.MAIL_RETRY_BASE_SECONDS * 2**attempt)
    return max(1.0, random.uniform(0, ceiling))  # noqa: S311 - jitter, not security


def _release(
    batch: Batch,
    error: str,
    *,
    countdown: float,
    attempted: bool = True,
    waiting_since=None,
    outcome_unknown: bool = False,
) -> None:
    Batch.objects.filter(pk=batch.pk, status=Batch.Status.SENDING).update(
        status=Batch.Status.QUEUED,
        claimed_at=None,
        last_error=error[:2000],
        enqueued_at=timezone.now() + timedelta(seconds=countdown),
        **({} if attempted else {"attempts": F("attempts") - 1}),  # give claim()'s count back
        **({} if waiting_since is None else {"waiting_since": waiting_since}),
        **({"outcome_unknown": True} if outcome_unknown else {}),
    )
    logger.warning("batch %s: %s; retry in %.0fs", batch.pk, error, countdown)


def _give_up(batch: Batch, error: str) -> None:
    batch_deliveries(batch).filter(status=Delivery.Status.QUEUED).update(
        status=Delivery.Status.FAILED, error=error[:500]
    )
    Batch.objects.filter(pk=batch.pk).update(last_error=error[:2000])
    logger.error("batch %s failed for good: %s", batch.pk, error)


def _finish(batch: Batch) -> None:
    now = timezone.now()
    Batch.objects.filter(pk=batch.pk, status=Batch.Status.SENDING).update(
        status=Batch.Status.DONE, finished_at=now
    )
    finish_mailing_if_done(batch.mailing_id)


def finish_mailing_if_done(mailing_id: int) -> bool:
    open_batches = Batch.objects.filter(
        mailing_id=mailing_id, status__in=[Batch.Status.QUEUED, Batch.Status.SENDING]
    )
    if open_batches.exists():
        return False
    return bool(
        Mailing.objects.filter(
            pk=mailing_id, status=Mailing.Status.SENDING, audience_complete=True
        ).update(status=Mailing.Status.DONE, finished_at=timezone.now())
    )


def throttle(count: int) -> float:
    """Seconds to wait before `count` more mails fit the global send rate (0: send now)."""
    from subscriptions.throttle import acquire

    return acquire(count)


# --- Other kinds of mailing: the same batches, claims, retries, rate and ledger ----------------------
# An app registers its Mailing.Kind (access: "new revision" notices to grant holders) with an audience
# function and a sender, and opens a mailing with open_mailing() in the transaction that decides it.
# Starting it (start_mailing, or the sweeper when that task was lost) writes the audience the function
# returns as deliveries and batches, once; the sender gets a batch and its queued delivery ids, sends,
# and returns the Outcome (raising SendFailure after recording what already went out, as
# _send_single does). The sweeper, pause, resume and cancel work on these
# mailings as on releases. No baselines are involved.

Sender = Callable[[Batch, list[int]], Outcome]
Audience = Callable[
    [Mailing], list[dict]
]  # a Delivery's fields per recipient, e.g. {"grant_id": 7}


@dataclass(frozen=True)
class _Kind:
    audience: Audience
    sender: Sender


_kinds: dict[str, _Kind] = {}


def register_kind(kind: str, *, audience: Audience, sender: Sender) -> None:
    _kinds[kind] = _Kind(audience=audience, sender=sender)


def open_mailing(kind: str) -> Mailing:
    """A pending mailing of a registered `kind`, started on commit. Call inside the transaction that
    decides the mailing exists: the row is the outbox, so a start task lost with the broker (or never
    enqueued) is enqueued again by the sweeper after MAIL_REQUEUE_AFTER_SECONDS."""
    from subscriptions.tasks import start_mailing

    mailing = Mailing.objects.create(kind=kind)
    transaction.on_commit(lambda: start_mailing.delay(mailing.pk), robust=True)
    return mailing


def _start_registered(mailing_id: int) -> list[int]:
    """Start a pending mailing of a registered kind: its whole audience (small: grant holders, not a
    list) as deliveries in batches of MAIL_BATCH_SIZE, written in one transaction under the mailing's
    row lock together with the move out of pending, so a rerun (a redelivered task, the sweeper)
    writes nothing twice. Returns the batch ids to enqueue."""
    with transaction.atomic():
        mailing = (
            Mailing.objects.select_for_update()
            .filter(pk=mailing_id, status=Mailing.Status.PENDING)
            .first()
        )
        if mailing is None:
            return []  # started already, or cancelled
        recipients = _kinds[mailing.kind].audience(mailing)
        now = timezone.now()
        rows = Delivery.objects.bulk_create(Delivery(mailing=mailing, **r) for r in recipients)
        ids = sorted(row.pk for row in rows)
        size = settings.MAIL_BATCH_SIZE
        batches = Batch.objects.bulk_create(
            Batch(
                mailing=mailing,
                first_delivery_id=chunk[0],
                last_delivery_id=chunk[-1],
                size=len(chunk),
                enqueued_at=now,
            )
            for chunk in (ids[i : i + size] for i in range(0, len(ids), size))
        )
        Mailing.objects.filter(pk=mailing.pk).update(
            status=Mailing.Status.SENDING if ids else Mailing.Status.DONE,
            audience_size=len(ids),
            audience_complete=True,
            audience_updated_at=now,
            started_at=now,
            finished_at=None if ids else now,
        )
    logger.info("mailing %s: %s recipients, %s batches", mailing_id, len(ids), len(batches))
    return [batch.pk for batch in batches]


def _send_registered(batch: Batch) -> float | None:
    queued = list(
        batch_deliveries(batch)
        .filter(status=Delivery.Status.QUEUED)
        .order_by("id")
        .values_list("id", flat=True)
    )

    def send_and_record() -> None:
        outcome = _kinds[batch.mailing.kind].sender(batch, queued)
        now = timezone.now()

        def write() -> None:
            with transaction.atomic():
                mark(outcome, now)

        durably(write)

    return _attempt(batch, len(queued), send_and_record)


# --- 4. The sweeper ----------------------------------------------------------------------------------


@dataclass
class Sweep:
    mailings: list[int]
    batches: list[int]


def sweep(now=None) -> Sweep:
    """Find work a crash or a broker flush lost, and hand back the ids to enqueue again."""
    now = now or timezone.now()
    lease = timedelta(seconds=settings.MAIL_BATCH_LEASE_SECONDS)
    lost_after = timedelta(seconds=settings.MAIL_REQUEUE_AFTER_SECONDS)
    # A cancelled mailing sends nothing more: what a dead worker or a retry left of it is settled.
    _settle_cancelled(now - lease)
    # A worker died (or was killed) while sending: its lease ran out.
    expired = list(
        Batch.objects.filter(status=Batch.Status.SENDING, claimed_at__lt=now - lease)
        .exclude(mailing__status=Mailing.Status.CANCELLED)
        .values_list("pk", flat=True)
    )
    if expired:
        # Still expired: another sweep may have re-queued one meanwhile and a worker claimed it
        # again; re-queueing that fresh claim would let a second worker send it too.
        Batch.objects.filter(
            pk__in=expired, status=Batch.Status.SENDING, claimed_at__lt=now - lease
        ).update(
            status=Batch.Status.QUEUED,
            claimed_at=None,
            last_error="lease expired",
            enqueued_at=now,
            outcome_unknown=True,  # it may have reached the ESP: the next claim asks first
        )
    # Queued, but its task never ran (broker flushed, enqueue failed).
    lost = list(
        Batch.objects.filter(
            status=Batch.Status.QUEUED,
            mailing__status=Mailing.Status.SENDING,
            enqueued_at__lt=now - lost_after,
        ).values_list("pk", flat=True)
    )
    Batch.objects.filter(pk__in=lost).update(enqueued_at=now)
    # Not started, or its audience half written (the chunk's task lost): start_chunk again.
    mailings = list(
        Mailing.objects.filter(
            Q(status=Mailing.Status.PENDING, created_at__lt=now - lost_after)
            | Q(
                status__in=[Mailing.Status.SENDING, Mailing.Status.PAUSED],
                audience_complete=False,
                audience_updated_at__lt=now - lost_after,
            )
        ).values_list("pk", flat=True)
    )
    for mailing_id in Mailing.objects.filter(status=Mailing.Status.SENDING).values_list(
        "pk", flat=True
    ):
        finish_mailing_if_done(mailing_id)
    return Sweep(mailings=mailings, batches=sorted(set(expired) | set(lost)))


def _settle_cancelled(lease_ended) -> None:
    """Cancel the batches of cancelled mailings that no worker will send, and skip their queued
    deliveries, as cancel() does for the batches it finds queued. cancel() leaves a batch being sent
    to finish; if its worker died instead (lease ended) or a transient error released it (queued),
    nothing else would ever move its deliveries out of "queued"."""
    left = Batch.objects.filter(mailing__status=Mailing.Status.CANCELLED).filter(
        Q(status=Batch.Status.QUEUED) | Q(status=Batch.Status.SENDING, claimed_at__lt=lease_ended)
    )
    for batch in left:
        with transaction.atomic():
            if Batch.objects.filter(pk=batch.pk, status=batch.status).update(
                status=Batch.Status.CANCELLED, claimed_at=None
            ):
                batch_deliveries(batch).filter(status=Delivery.Status.QUEUED).update(
                    status=Delivery.Status.SKIPPED, error="mailing cancelled"
                )


# --- Operating a mailing (admin) ---------------------------------------------------------------------


def pause(mailing_id: int) -> bool:
    """Stop claiming batches; a batch already being sent finishes."""
    return bool(
        Mailing.objects.filter(pk=mailing_id, status=Mailing.Status.SENDING).update(
            status=Mailing.Status.PAUSED
        )
    )


def resume(mailing_id: int) -> list[int]:
    """Continue a paused mailing; returns the queued batch ids to enqueue again."""
    with transaction.atomic():
        if not Mailing.objects.filter(pk=mailing_id, status=Mailing.Status.PAUSED).update(
            status=Mailing.Status.SENDING
        ):
            return []
        queued = Batch.objects.filter(mailing_id=mailing_id, status=Batch.Status.QUEUED)
        ids = list(queued.values_list("pk", flat=True))
        queued.update(enqueued_at=timezone.now())
    return ids


def cancel(mailing_id: int) -> bool:
    """Stop for good: queued deliveries are skipped; a batch being sent finishes."""
    with transaction.atomic():
        if not Mailing.objects.filter(
            pk=mailing_id,
            status__in=[Mailing.Status.PENDING, Mailing.Status.SENDING, Mailing.Status.PAUSED],
        ).update(status=Mailing.Status.CANCELLED, finished_at=timezone.now()):
            return False
        Batch.objects.filter(mailing_id=mailing_id, status=Batch.Status.QUEUED).update(
            status=Batch.Status.CANCELLED
        )
        Delivery.objects.filter(mailing_id=mailing_id, status=Delivery.Status.QUEUED).exclude(
            pk__in=_in_sending_batches(mailing_id)
        ).update(status=Delivery.Status.SKIPPED, error="mailing cancelled")
    return True


def _in_sending_batches(mailing_id: int) -> list[int]:
    ids: list[int] = []
    for batch in Batch.objects.filter(mailing_id=mailing_id, status=Batch.Status.SENDING):
        ids.extend(batch_deliveries(batch).values_list("pk", flat=True))
    return ids


@dataclass(frozen=True)
class EspWait:
    """Batches of a mailing waiting out the ESP's errors or rate limit (for the admin)."""

    batches: int
    since: datetime  # the first "not now" answer of the longest wait
    until: datetime  # the last of their retries is due then
    error: str  # the ESP's latest answer


def esp_wait(mailing_id: int) -> EspWait | None:
    waiting = Batch.objects.filter(
        mailing_id=mailing_id, status=Batch.Status.QUEUED, waiting_since__isnull=False
    )
    found = waiting.aggregate(n=Count("id"), since=Min("waiting_since"), until=Max("enqueued_at"))
    if not found["n"]:
        return None
    error = waiting.order_by("-enqueued_at").values_list("last_error", flat=True).first()
    return EspWait(found["n"], found["since"], found["until"], error or "")


def progress(mailing_id: int) -> dict[str, int]:
    """Deliveries per status, for the admin."""
    counts = dict(
        Delivery.objects.filter(mailing_id=mailing_id)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in Delivery.Status.values}


def preview(version: Version, subscriber: Subscriber | None = None) -> Variant:
    """The release mail of `version` (a draft too) as `subscriber` would get it, or as someone whose
    baseline is the previous published version. Personal links are filled in when a subscriber is
    given, left as markers otherwise."""
    baseline = None
    if subscriber is not None:
        row = Baseline.objects.filter(subscriber=subscriber, guide_id=version.guide_id).first()
        baseline = row.version_id if row else None
    else:
        previous = version.previous()
        baseline = previous.pk if previous else None
    variant = render_variant.__wrapped__(baseline, version.pk)  # drafts change: never cached
    if subscriber is None:
        return variant
    values = personal_values(subscriber)
    return Variant(
        subject=_fill(variant.subject, values, escape=False),
        text=_fill(variant.text, values, escape=False),
        html=_fill(variant.html, values, escape=True),
    )


def send_test(version: Version, to: str) -> None:
    """Mail the release of `version` (a draft too) to `to` alone, marked as a test; no ledger row."""
    variant = preview(version)
    example = {name: settings.SITE_URL + "/" for name in PERSONAL_FIELDS}
    message = EmailMultiAlternatives(
        subject=f"[TEST] {_fill(variant.subject, example, escape=False)}",
        body=_fill(variant.text, example, escape=False),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Auto-Submitted": "auto-generated", "List-Id": settings.LIST_ID},
    )
    message.attach_alternative(_fill(variant.html, example, escape=True), "text/html")
    mailkinds.identify(message, "release")
    message.send()
