"""What happens to a subscriber: subscribe, confirm, change preferences, unsubscribe, erase.

Views, the admin, imports and webhooks call these; none of them changes a subscriber's status itself.
Mail is never sent inline: its task is written as a row in the same transaction and published on
commit (subscriptions.queued_tasks), so a rolled-back request sends nothing and a committed one
its mail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from guide.models import Guide
from subscriptions import addresses, tokens
from subscriptions.models import Baseline, Cadence, Subscriber, SubscriberEvent, SuppressedAddress
from subscriptions.queued_tasks import enqueue
from subscriptions.reading import Reading

logger = logging.getLogger(__name__)
Kind = SubscriberEvent.Kind


@dataclass(frozen=True)
class Request:
    """Who is acting, for the consent record."""

    ip: str | None = None
    user_agent: str = ""


def record(subscriber: Subscriber, kind: str, detail: str = "", **extra: Any) -> SubscriberEvent:
    return SubscriberEvent.objects.create(
        subscriber=subscriber, kind=kind, detail=detail[:500], **extra
    )


def may_mail_again(sent_at, now) -> bool:
    """At most one confirmation-type mail per address per CONFIRMATION_RESEND_SECONDS (subscription
    confirmations and access-request verifications alike)."""
    window = timedelta(seconds=settings.CONFIRMATION_RESEND_SECONDS)
    return sent_at is None or sent_at + window <= now


def _may_send_confirmation(subscriber: Subscriber, now) -> bool:
    return may_mail_again(subscriber.confirm_sent_at, now)


# --- Other personal data keyed by address ------------------------------------------------------------
# Apps that keep personal data under an address (access requests) register here, so the subscriber's
# export shows it and erasure removes it, without this app knowing those apps.


@dataclass(frozen=True)
class PersonalData:
    export: Callable[[str], list[dict[str, Any]]]  # email_key -> JSON-ready records
    erase: Callable[[str], int]  # email_key -> rows removed


_personal_data: dict[str, PersonalData] = {}


def register_personal_data(name: str, data: PersonalData) -> None:
    _personal_data[name] = data


def subscribe(
    email: str,
    *,
    guides: Iterable[Guide] = (),
    cadence: str = Cadence.EVERY,
    source: str = "form",
    reading: Reading | None = None,
) -> None:
    """Ask for a subscription. Returns nothing on purpose: callers must answer every case alike.

    `reading` (digest slot, time zone, kinds, sections) replaces `cadence` when given. No guide
    means all guides, those created later included (all_guides).

    New, unsubscribed, bounced or erased addresses become pending and get a confirmation mail;
    pending ones get the new choices and a new link that voids the old one, unless their last mail is
    younger than CONFIRMATION_RESEND_SECONDS: then nothing changes, so a link confirms exactly the
    choices its mail named (docs/security.md, "Consent"); confirmed ones get
    a note with their preferences link and nothing changes (their preferences are changed only
    through that link, never by someone who merely knows the address).
    """
    address = addresses.normalize_address(email)
    all_guides = not list(guides)
    guides = list(guides) or list(Guide.objects.all())
    reading = reading or Reading(cadence=cadence)
    now = timezone.now()
    with transaction.atomic():
        subscriber = (
            Subscriber.objects.select_for_update().filter(email_key=addresses.key(address)).first()
        )
        if subscriber is None:
            try:
                with transaction.atomic():
                    subscriber = Subscriber(
                        email=address, email_key=addresses.key(address), all_guides=all_guides,
                        source=source[:100],
                    )  # fmt: skip
                    subscriber.set_reading(reading)
                    subscriber.save()
            except IntegrityError:
                # Another request created it a moment ago; that one sends the mail.
                return
            subscriber.guides.set(guides)
            subscriber.set_sections(reading.sections)
            record(subscriber, Kind.SUBSCRIBED, f"via {source}")
        elif subscriber.status == Subscriber.Status.CONFIRMED:
            if _may_send_confirmation(subscriber, now):
                subscriber.confirm_sent_at = now
                subscriber.save(update_fields=["confirm_sent_at"])
                enqueue(
                    "subscriptions.tasks.send_already_subscribed",
                    subscriber.pk,
                    email_key=subscriber.email_key,
                )
            return
        elif subscriber.status == Subscriber.Status.PENDING and not _may_send_confirmation(
            subscriber, now
        ):
            # A link mailed in the resend window confirms exactly what its mail offered: a later
            # submission (anyone may type the address) changes nothing and sends nothing.
            return
        else:
            # Pending past the resend window, unsubscribed, bounced or complained: the new choices
            # replace the earlier ones and go out in a new mail whose link voids the earlier link.
            again = subscriber.status != Subscriber.Status.PENDING
            subscriber.status = Subscriber.Status.PENDING
            subscriber.all_guides = all_guides
            subscriber.source = source[:100]
            subscriber.soft_bounces = 0  # a fresh start; old soft bounces must not re-bounce them
            subscriber.save(
                update_fields=[
                    "status", "all_guides", "source", "soft_bounces",
                    *subscriber.set_reading(reading),
                ]
            )  # fmt: skip
            subscriber.guides.set(guides)
            subscriber.set_sections(reading.sections)
            if again:
                record(subscriber, Kind.SUBSCRIBED, f"again via {source}")
        if not _may_send_confirmation(subscriber, now):
            return
        subscriber.new_confirm_nonce()
        subscriber.confirm_sent_at = now
        subscriber.save(update_fields=["confirm_nonce", "confirm_sent_at"])
        _request_confirmation(subscriber)


def _request_confirmation(subscriber: Subscriber) -> None:
    enqueue(
        "subscriptions.tasks.send_confirmation",
        subscriber.pk,
        subscriber.confirm_nonce,
        email_key=subscriber.email_key,
    )


class ConfirmError(Exception):
    def __init__(self, reason: str) -> None:  # "invalid", "expired", "used", "confirmed"
        super().__init__(reason)
        self.reason = reason


def check_confirm_token(token: str) -> Subscriber:
    """The pending subscriber a confirmation link is for, or ConfirmError saying why not."""
    try:
        claim = tokens.read_confirm_token(token)
    except tokens.ExpiredToken:
        raise ConfirmError("expired") from None
    except tokens.BadToken:
        raise ConfirmError("invalid") from None
    subscriber = Subscriber.objects.filter(uid=claim.uid).first()
    if subscriber is None:
        raise ConfirmError("invalid")
    if subscriber.status == Subscriber.Status.CONFIRMED:
        raise ConfirmError("confirmed")  # a second click: the link's own subscriber is confirmed
    if subscriber.status != Subscriber.Status.PENDING or subscriber.confirm_nonce != claim.nonce:
        raise ConfirmError("used")
    return subscriber


def confirm(token: str, request: Request) -> Subscriber:
    """Confirm with a link's token (the POST behind the Confirm button) and record consent."""
    with transaction.atomic():
        subscriber = check_confirm_token(token)
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        check_confirm_token(token)  # again under the lock: two clicks confirm once
        _record_consent(subscriber, request, "")
        # Each confirmation earns one welcome, claimed by the task through welcomed_at.
        Subscriber.objects.filter(pk=subscriber.pk).update(welcomed_at=None)
        enqueue("subscriptions.tasks.send_welcome", subscriber.pk, email_key=subscriber.email_key)
    return subscriber


def _record_consent(subscriber: Subscriber, request: Request, how: str) -> None:
    """Confirmed now, by this request: the consent record, and the baselines of the guides they
    follow (call it once their guides are stored). Inside the caller's transaction."""
    now = timezone.now()
    subscriber.status = Subscriber.Status.CONFIRMED
    subscriber.confirmed_at = subscriber.consent_at = now
    subscriber.consent_ip = request.ip
    subscriber.consent_user_agent = request.user_agent[:500]
    subscriber.confirm_nonce = ""
    subscriber.unsubscribed_at = None
    subscriber.soft_bounces = 0
    subscriber.save()
    # They start following now: each first mail shows the change since what is live today.
    Baseline.objects.start_following([subscriber.pk])
    # Fresh consent lifts an earlier erasure's suppression.
    SuppressedAddress.objects.filter(
        address_hash=addresses.suppression_hash(subscriber.email)
    ).delete()
    record(subscriber, Kind.CONFIRMED, f"{how}from {request.ip or 'unknown IP'}")


def subscribe_verified(
    address: str, *, guides: Iterable[Guide], request: Request, source: str
) -> Subscriber:
    """Subscribe an address its owner has just proved (a click on a single-use link we mailed to it,
    e.g. an access request's verification with "also send me guide updates" ticked): confirmed at
    once with that click as the consent record, and no second confirmation mail.

    A confirmed subscriber keeps their preferences and gains `guides`; anyone else becomes confirmed
    with `guides` added to what they had. Call inside the transaction that used the link.
    """
    address = addresses.normalize_address(address)
    guides = list(guides)
    subscriber = (
        Subscriber.objects.select_for_update().filter(email_key=addresses.key(address)).first()
    )
    if subscriber is None:
        subscriber = Subscriber.objects.create(
            email=address, email_key=addresses.key(address), source=source[:100]
        )
        record(subscriber, Kind.SUBSCRIBED, f"via {source}")
    elif subscriber.status == Subscriber.Status.CONFIRMED:
        gained = {g.pk for g in guides} - set(subscriber.guides.values_list("pk", flat=True))
        subscriber.guides.add(*guides)
        Baseline.objects.start_following([subscriber.pk], gained)
        record(
            subscriber, Kind.PREFERENCES, f"added {', '.join(g.slug for g in guides)} via {source}"
        )
        return subscriber
    else:
        subscriber.source = source[:100]
    subscriber.guides.add(*guides)
    _record_consent(subscriber, request, f"via {source} ")
    return subscriber


def update_preferences(
    subscriber: Subscriber,
    *,
    guides: Iterable[Guide],
    cadence: str,
    how: str = "",
    reading: Reading | None = None,
) -> None:
    """Set cadence and guides (the preferences page, the admin); `how` prefixes the history entry.
    `reading` (the preferences page) sets the digest slot, time zone, kinds and sections too, and
    its cadence wins; without it those stay as they are.

    No guide means every guide: the rule of the subscribe and preferences forms ("None ticked means
    all guides"), stored as a link to each, since the audience of a release is read from the links,
    and as all_guides, so that guides created later are followed too.
    A guide gained starts its baseline at its latest published version; the others keep theirs.
    """
    with transaction.atomic():
        all_guides = not list(guides)
        subscriber.all_guides = all_guides
        if reading is None:
            subscriber.cadence = cadence
            fields = ["cadence"]
        else:
            fields = subscriber.set_reading(reading)
            subscriber.set_sections(reading.sections)
        subscriber.save(update_fields=["all_guides", *fields])
        guides = list(guides) or list(Guide.objects.all())  # none ticked means all, as on the form
        before = set(subscriber.guides.values_list("pk", flat=True))
        subscriber.guides.set(guides)
        Baseline.objects.start_following([subscriber.pk], {g.pk for g in guides} - before)
        choice = "; ".join(
            [
                Cadence(subscriber.cadence).label,
                ", ".join(g.slug for g in guides) or "no guides",
                *describe_filters(subscriber),
            ]
        )
        record(subscriber, Kind.PREFERENCES, f"{how}: {choice}" if how else choice)


def describe_filters(subscriber: Subscriber) -> list[str]:
    """The choices beyond cadence and guides that differ from the defaults, for the history."""
    parts = []
    if subscriber.gets_digests:
        parts.append(f"at {subscriber.digest_hour:02}:00 {subscriber.time_zone}")
    if subscriber.kinds:
        parts.append(f"kinds {subscriber.kinds.replace(',', ', ')}")
    for guide_id, slugs in sorted(subscriber.section_choices().items()):
        parts.append(f"sections of guide {guide_id}: {', '.join(sorted(slugs))}")
    return parts


def unsubscribe(subscriber: Subscriber, *, how: str, **event: Any) -> bool:
    """Stop all mail to the subscriber. Repeating it changes nothing; returns whether it changed."""
    with transaction.atomic():
        changed = Subscriber.objects.filter(
            pk=subscriber.pk,
            status__in=[Subscriber.Status.PENDING, Subscriber.Status.CONFIRMED],
        ).update(
            status=Subscriber.Status.UNSUBSCRIBED, unsubscribed_at=timezone.now(), confirm_nonce=""
        )
        if changed:
            record(subscriber, Kind.UNSUBSCRIBED, how, **event)
    return bool(changed)


def mark_undeliverable(subscriber: Subscriber, status: str, detail: str, **event: Any) -> None:
    """A hard bounce or a complaint: stop mail (webhooks call this)."""
    kind = Kind.BOUNCED if status == Subscriber.Status.BOUNCED else Kind.COMPLAINED
    Subscriber.objects.filter(pk=subscriber.pk).update(status=status, confirm_nonce="")
    record(subscriber, kind, detail, **event)


def erase(subscriber: Subscriber, *, how: str) -> None:
    """Remove every piece of personal data; keep only a keyed hash on the suppression list."""
    with transaction.atomic():
        SuppressedAddress.objects.get_or_create(
            address_hash=addresses.suppression_hash(subscriber.email),
            defaults={"reason": "erased"},
        )
        uid = subscriber.uid
        for data in _personal_data.values():
            data.erase(subscriber.email_key)
        # Delivery rows stay for the mailings' counts, anonymous (subscriber set to NULL); their
        # error texts are cleared in case an ESP quoted the address in one.
        subscriber.deliveries.update(error="")
        subscriber.delete()  # events and baselines go with it (CASCADE)
    logger.info("erased subscriber %s (%s)", uid, how)


def is_suppressed(address: str) -> bool:
    return SuppressedAddress.objects.filter(
        address_hash=addresses.suppression_hash(address)
    ).exists()


def export_data(subscriber: Subscriber) -> dict[str, Any]:
    """Everything we hold about the subscriber, for their own JSON download."""
    return {
        "email": subscriber.email,
        "status": subscriber.status,
        "cadence": subscriber.cadence,
        "guides": [guide.slug for guide in subscriber.guides.all()],
        "all_guides": subscriber.all_guides,
        "digest": {
            "weekday": subscriber.digest_weekday,
            "hour": subscriber.digest_hour,
            "time_zone": subscriber.time_zone,
        },
        "kinds": sorted(subscriber.kind_set),
        "sections": {
            f.guide.slug: f.sections for f in subscriber.section_filters.select_related("guide")
        },
        "created_at": subscriber.created_at.isoformat(),
        "confirmed_at": subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else None,
        "unsubscribed_at": (
            subscriber.unsubscribed_at.isoformat() if subscriber.unsubscribed_at else None
        ),
        "consent": {
            "at": subscriber.consent_at.isoformat() if subscriber.consent_at else None,
            "ip": subscriber.consent_ip,
            "user_agent": subscriber.consent_user_agent,
            "source": subscriber.source,
        },
        "history": [
            {
                "at": event.created_at.isoformat(),
                "event": event.kind,
                "detail": event.detail,
                "version": str(event.version) if event.version_id else None,
            }
            for event in subscriber.events.select_related("version__guide")
        ],
        **{name: data.export(subscriber.email_key) for name, data in _personal_data.items()},
    }


def resend_confirmation(subscriber: Subscriber) -> bool:
    """Mail a pending subscriber a new confirmation link (voiding the old one): the admin's action.

    Returns whether a mail was enqueued. Subscribers who are not pending get nothing, and neither does
    anyone mailed in the last CONFIRMATION_RESEND_SECONDS (a double click sends one mail).
    """
    now = timezone.now()
    with transaction.atomic():
        subscriber = (
            Subscriber.objects.select_for_update()
            .filter(pk=subscriber.pk, status=Subscriber.Status.PENDING)
            .first()
        )
        if subscriber is None or not _may_send_confirmation(subscriber, now):
            return False
        subscriber.new_confirm_nonce()
        subscriber.confirm_sent_at = now
        subscriber.save(update_fields=["confirm_nonce", "confirm_sent_at"])
        _request_confirmation(subscriber)
    return True
