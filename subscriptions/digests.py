"""Digests: the daily or weekly mail of what changed, at the reader's hour in their time zone.

A digest goes through the release pipeline's mailings, batches and ledger as a registered kind
(audience.register_kind). Beat runs `open_due` every DIGEST_INTERVAL seconds: when some digest
reader is due, it opens one Mailing for the current slot (the UTC start of its SLOT_MINUTES), and
the slot's unique constraint makes a second opening of it a no-op. A reader is due when one of their
slots (Subscriber.next_digest_at) has passed since `digest_after`; the audience takes them and moves
their `digest_after` to the time it was written, under row locks, so each passed slot reaches them
once: a slot missed while beat was down goes out in the first mailing after it comes back.

Each reader's mail holds, per guide they follow, the net change from the version they last received
(their baseline) to the newest (guide.catchup.catch_up, narrowed by their filters: subscriptions
.filters). Guides with nothing new for them are left out; a reader with nothing new anywhere gets no
mail (skipped, baselines unchanged). After a send their baselines move to the mailed versions, and
the delivery keeps what the digest was made of (key_of), which its "View in browser" page renders
again (subscriptions.digest_mail).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from guide.catchup import CatchUp
from guide.models import Guide, Version
from subscriptions import emails, filters, ledger, release_mail
from subscriptions.audience import open_mailing
from subscriptions.filters import Filters
from subscriptions.models import Batch, Cadence, Delivery, Mailing, Subscriber, SubscriberQuerySet
from subscriptions.reading import next_slot
from subscriptions.sending import Outcome, send_each

logger = logging.getLogger(__name__)

# Every time zone in use starts its hours on a quarter hour (India +5:30, Nepal +5:45).
SLOT_MINUTES = 15
NOTHING_NEW = "nothing new since the reader's last mail"
NOT_SUBSCRIBED = "not subscribed any more"


def slot_start(now: datetime) -> datetime:
    """The UTC start of the SLOT_MINUTES that `now` is in: a digest mailing's key."""
    return now.replace(minute=now.minute - now.minute % SLOT_MINUTES, second=0, microsecond=0)


def last_slot(now: datetime, *, hour: int, time_zone: str, weekday: int | None) -> datetime:
    """The latest slot at or before `now` (hour in time_zone, on weekday if given)."""
    slot = next_slot(now - timedelta(days=8 if weekday is not None else 2), hour=hour,
                     time_zone=time_zone, weekday=weekday)  # fmt: skip
    while (following := next_slot(slot, hour=hour, time_zone=time_zone, weekday=weekday)) <= now:
        slot = following
    return slot


def due(now: datetime) -> SubscriberQuerySet:
    """Digest readers with a slot in (digest_after or confirmed_at, now]: one condition per distinct
    slot choice (a few hundred at most), each with that choice's latest slot."""
    readers = Subscriber.objects.digest_readers()
    choices = readers.values_list("cadence", "digest_weekday", "digest_hour", "time_zone")
    condition = Q(pk__in=[])
    for cadence, weekday, hour, zone in choices.order_by().distinct():
        weekly = cadence == Cadence.WEEKLY
        on = {"digest_weekday": weekday} if weekly else {}
        latest = last_slot(now, hour=hour, time_zone=zone, weekday=weekday if weekly else None)
        condition |= Q(cadence=cadence, digest_hour=hour, time_zone=zone, **on) & (
            Q(digest_after__lt=latest) | Q(digest_after__isnull=True, confirmed_at__lt=latest)
        )
    return readers.filter(condition)


def open_due(now: datetime | None = None) -> Mailing | None:
    """Open the digest mailing of the current slot if someone is due and it is not open yet."""
    now = now or timezone.now()
    if not due(now).exists():
        return None
    try:
        with transaction.atomic():
            return open_mailing(Mailing.Kind.DIGEST, slot=slot_start(now))
    except IntegrityError:
        return None  # this slot's mailing exists


def audience(mailing: Mailing) -> list[dict]:
    """The readers due at the start, taken for this mailing (registered with
    audience.register_kind; runs inside the start's transaction). The row locks make a concurrent
    mailing wait and then see the moved digest_after, so no reader is in two."""
    now = timezone.now()
    ids = list(due(now).select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))
    Subscriber.objects.filter(pk__in=ids).update(digest_after=now)
    return [{"subscriber_id": pk} for pk in ids]


# --- One reader's digest ------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One guide's net change for a reader: from `since_id` to `until_id` under `chosen`."""

    guide_id: int
    since_id: int | None
    until_id: int
    chosen: Filters


def key_of(parts: tuple[Part, ...], cadence: str) -> str:
    """What a digest is made of, as text: its cadence (the label) and each part. Stored on a sent
    digest's delivery (Delivery.digest_parts), so its page renders it again: the reader's baselines
    and filters have moved on since."""

    def chosen(values: frozenset[str] | None) -> list[str] | None:
        return None if values is None else sorted(values)

    return json.dumps(
        [cadence, [[p.guide_id, p.since_id, p.until_id, chosen(p.chosen.kinds),
                    chosen(p.chosen.sections)] for p in parts]],
        separators=(",", ":"),
    )  # fmt: skip


def parts_of(key: str) -> tuple[tuple[Part, ...], str]:
    """key_of() read back: (parts, cadence). ValueError when `key` is not one."""
    try:
        cadence, rows = json.loads(key)
        parts = tuple(
            Part(int(guide), None if since is None else int(since), int(until),
                 Filters(None if kinds is None else frozenset(kinds),
                         None if sections is None else frozenset(sections)))
            for guide, since, until, kinds, sections in rows
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise ValueError("not a digest's key") from exc
    return parts, str(cadence)


def page_of(key: str) -> str:
    """The digest's name in its "View in browser" link: a hash of key_of() (short, and no version
    or filter shows in the address)."""
    return hashlib.sha256(key.encode()).hexdigest()[:PAGE_LENGTH]


PAGE_LENGTH = 24


def parts_for(subscriber: Subscriber, newest: dict[int, Version]) -> list[Part]:
    """The guides with something new for the reader, each from their baseline to the newest."""
    guide_ids = (
        list(newest)
        if subscriber.all_guides
        else list(subscriber.guides.values_list("pk", flat=True))
    )
    baselines = dict(subscriber.baselines.values_list("guide_id", "version_id"))
    sections = subscriber.section_choices()
    kinds = subscriber.kind_set if subscriber.kinds else None
    parts = []
    for guide_id in sorted(guide_ids):
        until = newest.get(guide_id)
        since_id = baselines.get(guide_id)
        if until is None or since_id == until.pk:
            continue
        part = Part(guide_id, since_id, until.pk, Filters(kinds, sections.get(guide_id)))
        if changes_of(part) is not None:
            parts.append(part)
    return parts


# Parts repeat across readers (the same baseline, newest and filters): an LRU like the release
# variants', of catch-ups and of whole digests.
@lru_cache(maxsize=release_mail.VARIANT_CACHE_SIZE)
def changes_of(part: Part) -> CatchUp | None:
    changes = filters.narrow(
        release_mail.published_catch_up(part.since_id, part.until_id), part.chosen
    )
    return None if changes is None or changes.is_empty else changes


@lru_cache(maxsize=release_mail.VARIANT_CACHE_SIZE)
def render(parts: tuple[Part, ...], cadence: str) -> emails.RenderedMail:
    """The digest of `parts`, personal fields as markers, cut to fit the size budget."""
    changes = [changes_of(part) for part in parts]
    label = "weekly" if cadence == Cadence.WEEKLY else "daily"
    if len(changes) == 1:
        only = changes[0].until
        subject = release_mail.subject(f"Your {label} digest: {only.guide.title}", only.number, "")
    else:
        subject = f"Your {label} digest: {len(changes)} guides changed"
    markers = {name: release_mail.marker(name) for name in release_mail.PERSONAL_FIELDS}
    # The reader's pages hang under their manage link, as in a release mail: this digest on the
    # web (named by what it is made of, so a preview names it as the send will) and the catch-up.
    page = page_of(key_of(parts, cadence))
    manage = markers["manage_url"]
    markers["view_url"] = manage + emails.under_manage("subscriptions:view_digest", page)
    markers["catch_up_url"] = manage + emails.under_manage("subscriptions:catch_up")

    def contexts():
        for cut in release_mail.cuts():
            guides = [
                {
                    **release_mail.context(c, cut),
                    "filtered": part.chosen.describe(filters.section_titles(c)),
                }
                for part, c in zip(parts, changes, strict=True)
            ]
            yield {
                "subject": subject,
                "label": label,
                "preheader": "; ".join(f"{g['guide'].title}: {g['preheader']}" for g in guides),
                "guides": guides,
                **markers,
            }

    return emails.render_fitting("digest", contexts())


def newest_versions() -> dict[int, Version]:
    """guide id -> its newest published version (guides with one)."""
    newest = {}
    for guide_id in Guide.objects.values_list("pk", flat=True):
        version = Version.objects.published().filter(guide_id=guide_id).newest_first().first()
        if version is not None:
            newest[guide_id] = version
    return newest


def send(batch: Batch, queued: list[int]) -> Outcome:
    """Send a digest batch one message per reader (their parts differ); registered sender."""
    rows = (
        Delivery.objects.filter(pk__in=queued, status=Delivery.Status.QUEUED)
        .select_related("subscriber")
        .order_by("pk")
    )
    newest = newest_versions()
    plan: dict[int, tuple[Subscriber, tuple[Part, ...]]] = {}
    gone, empty = [], []
    for row in rows:
        subscriber = row.subscriber
        if subscriber is None or subscriber.status != Subscriber.Status.CONFIRMED:
            gone.append(row.pk)
            continue
        parts = tuple(parts_for(subscriber, newest))
        if parts:
            plan[row.pk] = (subscriber, parts)
        else:
            empty.append(row.pk)
    for ids, reason in ((gone, NOT_SUBSCRIBED), (empty, NOTHING_NEW)):
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SKIPPED, error=reason
        )

    def messages():
        for delivery_id, (subscriber, parts) in plan.items():
            links = emails.subscriber_links(subscriber)
            mail = release_mail.fill(render(parts, subscriber.cadence), links)
            headers = emails.list_headers(links["unsubscribe_url"])
            yield delivery_id, emails.build_message("digest", mail, [subscriber.email], headers)

    def record(outcome: Outcome) -> None:
        now = timezone.now()
        moves: dict[tuple[int, int], list[int]] = {}
        made_of: dict[str, list[int]] = {}  # key_of() -> the sent deliveries of that digest
        for delivery_id in outcome.sent:
            subscriber, parts = plan[delivery_id]
            made_of.setdefault(key_of(parts, subscriber.cadence), []).append(delivery_id)
            for part in parts:
                moves.setdefault((part.guide_id, part.until_id), []).append(subscriber.pk)

        def write() -> None:
            with transaction.atomic():
                ledger.mark(outcome, now)
                for key, delivery_ids in made_of.items():
                    Delivery.objects.filter(pk__in=delivery_ids).update(digest_parts=key)
                for (guide_id, version_id), subscriber_ids in moves.items():
                    ledger.move_baselines(subscriber_ids, guide_id, version_id, now)

        ledger.durably(write)

    outcome = send_each(messages(), record=record)
    record(outcome)
    return outcome
