"""Bounces, complaints and ESP unsubscribes: what the ESPs report through anymail's tracking webhooks.

anymail's views (mounted at /anymail/, guarded by the ANYMAIL WEBHOOK_SECRET basic auth and, for
Mailgun, by the payload's HMAC signature) turn each ESP's webhook into a normalised
AnymailTrackingEvent and send the `tracking` signal. The receiver here acts on the events that say an
address should get no more mail:

    anymail event_type (ESP detail)                         our action
    bounced                                                 hard bounce -> status bounced
    bounced, flagged soft by the ESP: Postmark SoftBounce;  soft bounce
      Mailgun permanent failure with reason old/espblock
    bounced, Postmark VirusNotification                     nothing (about the message, not the address)
    bounced, Mailgun reason suppress-unsubscribe            unsubscribe
    bounced, Mailgun reason suppress-complaint              complaint
    deferred (Postmark Transient/DnsError, Mailgun failed   soft bounce
      with severity temporary)
    deferred, Postmark OpenRelayTest                        nothing (the receiving ISP testing Postmark)
    rejected, reject_reason bounced or invalid              hard bounce
    rejected, reject_reason spam                            complaint
    rejected, reject_reason unsubscribed                    unsubscribe
    complained                                              complaint -> status complained
    unsubscribed                                            unsubscribe (lifecycle.unsubscribe)
    anything else (delivered, opened, clicked, queued,      nothing
      failed, subscribed, autoresponded, unknown, ...)

Which statuses each action changes:
- hard bounce: pending/confirmed -> bounced (lifecycle.mark_undeliverable);
- soft bounce: pending/confirmed only; counts `soft_bounces` (reset when the previous soft bounce is
  SOFT_BOUNCE_WINDOW_DAYS or more ago), records a SOFT_BOUNCED event, and at SOFT_BOUNCE_LIMIT marks the
  subscriber bounced. One message counts once: Mailgun reports every failed retry of a message;
- complaint: any status but complained -> complained (a complaint outranks an unsubscribe or bounce);
- unsubscribe: pending/confirmed -> unsubscribed (lifecycle.unsubscribe).
An event that would change nothing (a bounce for an unsubscribed address, …) is logged and not recorded.

Release mail: when the event's message id is the ESP message id of a release Delivery of that recipient
(find_recipient), a hard bounce or complaint also marks that delivery bounced, whatever it changes for
the subscriber, and the event row names the version mailed.

Duplicates: every acting event's row carries a dedupe key in SubscriberEvent.esp_event_id (unique), so
an event delivered twice, even concurrently, acts once. Unknown recipients are logged and ignored.
The receiver never raises (see handle_tracking_event).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

from anymail.signals import AnymailTrackingEvent, EventType, RejectReason, tracking
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.utils import timezone

from subscriptions import addresses, lifecycle
from subscriptions.models import Delivery, Subscriber, SubscriberEvent

logger = logging.getLogger(__name__)
Status = Subscriber.Status
Kind = SubscriberEvent.Kind
ACTIVE = (Status.PENDING, Status.CONFIRMED)  # the statuses we send mail to
ESP_EVENT_ID_LENGTH = SubscriberEvent._meta.get_field("esp_event_id").max_length
ESP_MESSAGE_ID_LENGTH = Delivery._meta.get_field("esp_message_id").max_length


class Action(StrEnum):
    HARD_BOUNCE = "hard bounce"
    SOFT_BOUNCE = "soft bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"


# Postmark bounce Types anymail reports as "bounced" or "deferred" that we read differently.
POSTMARK_TYPES = {
    "SoftBounce": Action.SOFT_BOUNCE,  # mailbox full, quota, …: anymail says "bounced"
    "VirusNotification": None,  # the message carried a virus: says nothing about the address
    "OpenRelayTest": None,  # the receiving ISP testing Postmark, not a delivery attempt
}
# Mailgun failure reasons (event-data.reason) that decide the action whatever the severity.
MAILGUN_REASONS = {
    "old": Action.SOFT_BOUNCE,  # retried (temporary failures) until Mailgun gave up
    "espblock": Action.SOFT_BOUNCE,  # the mailbox provider blocked our sending, not the address
    "suppress-unsubscribe": Action.UNSUBSCRIBE,  # on Mailgun's unsubscribe list
    "suppress-complaint": Action.COMPLAINT,  # on Mailgun's complaint list
}
REJECT_REASONS = {
    RejectReason.BOUNCED: Action.HARD_BOUNCE,
    RejectReason.INVALID: Action.HARD_BOUNCE,
    RejectReason.SPAM: Action.COMPLAINT,
    RejectReason.UNSUBSCRIBED: Action.UNSUBSCRIBE,
}
EVENT_TYPES = {
    EventType.BOUNCED: Action.HARD_BOUNCE,
    EventType.DEFERRED: Action.SOFT_BOUNCE,
    EventType.COMPLAINED: Action.COMPLAINT,
    EventType.UNSUBSCRIBED: Action.UNSUBSCRIBE,
}


@receiver(tracking, dispatch_uid="subscriptions.bounces.handle_tracking_event")
def handle_tracking_event(
    sender: Any, event: AnymailTrackingEvent, esp_name: str = "", **kwargs: Any
) -> None:
    # Never raise. anymail lets a receiver's exception escape its view, so the ESP gets a 500 (and a
    # 400 for anything Django reads as a suspicious request); the ESP then redelivers the same event
    # for hours or days, failing the same way each time, and may end up disabling the webhook, which
    # would lose every later bounce. A failing event is logged for a human instead; whatever it
    # changed in the database is rolled back with its transaction.
    try:
        process(event, esp_name)
    except Exception:
        logger.exception(
            "%s %s event %s could not be processed; ignored",
            esp_name,
            getattr(event, "event_type", "?"),
            getattr(event, "event_id", "?"),
        )


def process(event: AnymailTrackingEvent, esp_name: str) -> None:
    action = classify(event, esp_name)
    if action is None:
        return
    with transaction.atomic():
        subscriber, delivery = find_recipient(event)
        if subscriber is None:
            # Addresses are logged nowhere here: an erased subscriber's address must not reappear.
            logger.info(
                "%s %s event %s (message %s) is for no subscriber; ignored",
                esp_name, event.event_type, event.event_id, event.message_id,
            )  # fmt: skip
            return
        key = dedupe_key(event, esp_name, action)
        if already_handled(key):
            logger.info("%s event %s already handled; ignored", esp_name, key)
            return
        # Event row fields for every row an action records: the dedupe key, and the version mailed
        # when the event names a release delivery.
        extra: dict[str, Any] = {"esp_event_id": key}
        if delivery is not None:
            extra["version_id"] = delivery.mailing.version_id
        try:
            # The savepoint: a concurrent delivery of the same event that committed its row first
            # makes ours fail on the unique esp_event_id; roll back this attempt and keep theirs.
            with transaction.atomic():
                ACTIONS[action](subscriber, event, esp_name, extra)
                if delivery is not None and action in DELIVERY_BOUNCES:
                    mark_delivery_bounced(delivery, event, esp_name)
        except IntegrityError:
            if already_handled(key):
                logger.info("%s event %s handled concurrently; ignored", esp_name, key)
                return
            raise


def already_handled(key: str | None) -> bool:
    return bool(key) and SubscriberEvent.objects.filter(esp_event_id=key).exists()


def classify(event: AnymailTrackingEvent, esp_name: str) -> Action | None:
    """What an event means for the subscriber, or None when it means nothing to us."""
    esp_event = _mapping(event.esp_event)
    if esp_name == "Postmark" and esp_event.get("Type") in POSTMARK_TYPES:
        return POSTMARK_TYPES[esp_event["Type"]]
    if esp_name == "Mailgun" and event.event_type in (EventType.BOUNCED, EventType.REJECTED):
        reason = _mapping(esp_event.get("event-data")).get("reason")
        if reason in MAILGUN_REASONS:
            return MAILGUN_REASONS[reason]
    if event.event_type == EventType.REJECTED:
        return REJECT_REASONS.get(event.reject_reason)
    return EVENT_TYPES.get(event.event_type)


def recipient_key(recipient: object) -> str | None:
    """The email_key of the event's recipient, or None when it is no address we could have stored."""
    if not isinstance(recipient, str):
        return None
    try:
        return addresses.key(addresses.normalize_address(recipient))
    except ValidationError:
        return None


def find_recipient(event: AnymailTrackingEvent) -> tuple[Subscriber | None, Delivery | None]:
    """The subscriber the event is about, locked until the transaction ends, and the release
    delivery it is about when its message id names one; (None, None) when it is for no subscriber.

    The delivery first (find_delivery): it names the subscriber even if the address was changed
    since. Otherwise by the recipient address (find_subscriber).
    """
    delivery = find_delivery(event)
    if delivery is not None:
        subscriber = (
            Subscriber.objects.select_for_update().filter(pk=delivery.subscriber_id).first()
        )
        if subscriber is not None:  # erased meanwhile: the address lookup finds nothing either
            return subscriber, delivery
    return find_subscriber(event), None


def find_delivery(event: AnymailTrackingEvent) -> Delivery | None:
    """The release delivery whose stored ESP message id is the event's, or None.

    Matched on (message id, recipient): a Mailgun batch is one message id for all its recipients.
    Postmark gives each recipient its own id, so an id carried by one delivery only names it even when
    the recipient address does not match (any more).
    """
    ids = message_id_forms(event.message_id)
    if not ids:
        return None
    # exclude(""): the same condition as the partial index delivery_esp_message_idx, so the
    # planner can use it whatever the parameters (ids are never empty anyway).
    deliveries = (
        Delivery.objects.filter(esp_message_id__in=ids, subscriber__isnull=False)
        .exclude(esp_message_id="")
        .select_related("mailing")
    )
    key = recipient_key(event.recipient)
    if key is not None:
        found = deliveries.filter(subscriber__email_key=key).order_by("-pk").first()
        if found is not None:
            return found
    only = list(deliveries.order_by("-pk")[:2])
    return only[0] if len(only) == 1 else None


def message_id_forms(message_id: object) -> list[str]:
    """The ways a message id may have been stored: as the ESP answered it, with or without <>."""
    if not isinstance(message_id, str) or not message_id.strip():
        return []
    bare = message_id.strip().removeprefix("<").removesuffix(">")
    forms = dict.fromkeys([message_id.strip(), bare, f"<{bare}>"])
    return [form for form in forms if len(form) <= ESP_MESSAGE_ID_LENGTH]


def find_subscriber(event: AnymailTrackingEvent) -> Subscriber | None:
    """The subscriber with the event's recipient address, locked until the transaction ends, or None.

    Matched as subscriptions match addresses (case-insensitive, domain in IDNA).
    """
    key = recipient_key(event.recipient)
    if key is None:
        return None
    return Subscriber.objects.select_for_update().filter(email_key=key).first()


def dedupe_key(event: AnymailTrackingEvent, esp_name: str, action: Action) -> str | None:
    """What SubscriberEvent.esp_event_id records so the same event acts once (None: no dedupe).

    Usually the ESP's event id. Soft bounces use the message instead, so one message counts as one
    soft bounce however many failed retries the ESP reports. Mailgun's events use event-data's id and
    timestamp, which name the event itself, rather than anymail's event_id (the signature token,
    which belongs to one webhook request). Events without an id (Postmark's SubscriptionChange) get
    one derived from their content.
    """
    esp_event = _mapping(event.esp_event)
    mailgun = _mapping(esp_event.get("event-data")) if esp_name == "Mailgun" else {}
    if action == Action.SOFT_BOUNCE and event.message_id:
        raw = f"soft:{event.message_id}:{recipient_key(event.recipient)}"
    elif mailgun.get("id") and mailgun.get("timestamp"):
        raw = f"{mailgun['id']}:{mailgun['timestamp']}"
    elif event.event_id:
        raw = str(event.event_id)
    elif event.message_id or event.timestamp:
        content = [event.event_type, event.recipient, event.message_id, event.timestamp]
        raw = "derived:" + _sha256("\n".join(str(part) for part in content))
    else:
        return None
    prefix = re.sub(r"[^a-z0-9]+", "-", (esp_name or "esp").lower()).strip("-")
    key = f"{prefix}:{raw}"
    return key if len(key) <= ESP_EVENT_ID_LENGTH else f"{prefix}:sha256:{_sha256(raw)}"


# --- The actions -------------------------------------------------------------------------------------


def hard_bounce(subscriber: Subscriber, event, esp_name: str, extra: dict[str, Any]) -> None:
    if _unchanged(subscriber, Action.HARD_BOUNCE, event, esp_name, subscriber.status in ACTIVE):
        return
    lifecycle.mark_undeliverable(subscriber, Status.BOUNCED, describe(event, esp_name), **extra)


def complaint(subscriber: Subscriber, event, esp_name: str, extra: dict[str, Any]) -> None:
    acts = subscriber.status != Status.COMPLAINED
    if _unchanged(subscriber, Action.COMPLAINT, event, esp_name, acts):
        return
    lifecycle.mark_undeliverable(subscriber, Status.COMPLAINED, describe(event, esp_name), **extra)


def unsubscribe(subscriber: Subscriber, event, esp_name: str, extra: dict[str, Any]) -> None:
    if _unchanged(subscriber, Action.UNSUBSCRIBE, event, esp_name, subscriber.status in ACTIVE):
        return
    lifecycle.unsubscribe(subscriber, how=f"ESP unsubscribe: {describe(event, esp_name)}", **extra)


def soft_bounce(subscriber: Subscriber, event, esp_name: str, extra: dict[str, Any]) -> None:
    if _unchanged(subscriber, Action.SOFT_BOUNCE, event, esp_name, subscriber.status in ACTIVE):
        return
    now = timezone.now()
    limit, days = settings.SOFT_BOUNCE_LIMIT, settings.SOFT_BOUNCE_WINDOW_DAYS
    last = subscriber.last_bounce_at
    count = subscriber.soft_bounces + 1 if last and now - last < timedelta(days=days) else 1
    Subscriber.objects.filter(pk=subscriber.pk).update(soft_bounces=count, last_bounce_at=now)
    subscriber.soft_bounces, subscriber.last_bounce_at = count, now
    detail = describe(event, esp_name)
    lifecycle.record(subscriber, Kind.SOFT_BOUNCED, f"{count} of {limit}: {detail}", **extra)
    if count >= limit:
        lifecycle.mark_undeliverable(
            subscriber,
            Status.BOUNCED,
            f"{count} soft bounces, each within {days} days of the previous one; last: {detail}",
            **{name: value for name, value in extra.items() if name != "esp_event_id"},
        )


ACTIONS: dict[Action, Callable[[Subscriber, Any, str, dict[str, Any]], None]] = {
    Action.HARD_BOUNCE: hard_bounce,
    Action.SOFT_BOUNCE: soft_bounce,
    Action.COMPLAINT: complaint,
    Action.UNSUBSCRIBE: unsubscribe,
}
# The actions that mean the delivery the event names did not reach (or was refused by) its reader.
DELIVERY_BOUNCES = (Action.HARD_BOUNCE, Action.COMPLAINT)


def mark_delivery_bounced(delivery: Delivery, event, esp_name: str) -> None:
    """A sent release delivery bounced (or its reader complained): the ledger says so.

    The error names what the ESP reported, not the receiving server's words: those may quote the
    address, and a delivery outlives its subscriber's erasure.
    """
    kind = _clean(_esp_kind(event, esp_name))
    error = f"{esp_name or 'ESP'} {event.event_type}" + (f": {kind}" if kind else "")
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENT).update(
        status=Delivery.Status.BOUNCED, error=error[:500]
    )


def _unchanged(subscriber: Subscriber, action: Action, event, esp_name: str, acts: bool) -> bool:
    if not acts:
        logger.info(
            "%s %s (event %s) for subscriber %s, already %s: nothing to change",
            esp_name, action, event.event_id, subscriber.uid, subscriber.status,
        )  # fmt: skip
    return not acts


# --- The event's detail ------------------------------------------------------------------------------


def describe(event: AnymailTrackingEvent, esp_name: str) -> str:
    """The ESP, what it reported and why, for the event row's detail (cut to fit by record())."""
    head = f"{esp_name or 'ESP'} {event.event_type}"
    parts = [_esp_kind(event, esp_name), event.description, event.mta_response]
    if event.reject_reason not in (None, RejectReason.OTHER, event.event_type):
        parts.insert(1, f"reason {event.reject_reason}")
    said = " — ".join(
        dict.fromkeys(text for text in map(_clean, parts) if text and text != event.event_type)
    )
    return f"{head}: {said}" if said else head


def _esp_kind(event: AnymailTrackingEvent, esp_name: str) -> str:
    """The ESP's own name for what happened, beyond anymail's normalised event type."""
    esp_event = _mapping(event.esp_event)
    if esp_name == "Postmark":
        if esp_event.get("RecordType") == "SubscriptionChange":
            reason, origin = esp_event.get("SuppressionReason"), esp_event.get("Origin")
            return " ".join(
                str(part)
                for part in ("SubscriptionChange", reason, origin and f"by {origin}")
                if part
            )
        return str(esp_event.get("Type") or esp_event.get("RecordType") or "")
    if esp_name == "Mailgun":
        data = _mapping(esp_event.get("event-data"))
        status = _mapping(data.get("delivery-status")).get("code")
        parts = (data.get("event"), data.get("severity"), data.get("reason"), status)
        return " ".join(str(part) for part in parts if part not in (None, ""))
    return ""


def _clean(value: object) -> str:
    if value is None:
        return ""
    # MTA responses are whatever the receiving server said: folded lines, control characters, even
    # NUL bytes (which PostgreSQL refuses in text). Keep one line of printable text.
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return " ".join(text.split())


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
