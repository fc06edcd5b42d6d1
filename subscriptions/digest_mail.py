"""A digest reader's mail outside the digest run: the admin's preview of their next digest, its test
mail, and a sent digest on the web ("View in browser").

Each is built by the digest sender's own steps (digests.parts_for, digests.render, release_mail.fill
with the reader's links, the list headers), so the preview is the message the run sends them but for
Message-ID and Date, and the page is the HTML part they were sent.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from guide.models import Version
from subscriptions import digests, emails, release_mail
from subscriptions.models import Delivery, Mailing, Subscriber


@dataclass(frozen=True)
class NextDigest:
    """What a digest reader gets at their next slot, as published now."""

    when: datetime | None  # their next slot (UTC); None if they are not mailed digests
    message: EmailMultiAlternatives | None  # None: nothing new, or not mailed (left_out says why)
    left_out: str  # why they get no digest ("" when they get `message`)

    @property
    def due(self) -> bool:
        """Their slot has passed and the next digest run takes them."""
        return self.when is not None and self.when <= timezone.now()


def next_slot(subscriber: Subscriber) -> datetime | None:
    """The slot of the reader's next digest: the first after they were last taken into one (or
    confirmed); it may have passed, when the next run (every DIGEST_INTERVAL) has not taken them yet.
    None if they are not a confirmed digest reader."""
    if subscriber.status != Subscriber.Status.CONFIRMED or not subscriber.gets_digests:
        return None
    return subscriber.next_digest_at(subscriber.digest_after or subscriber.confirmed_at)


def local(when: datetime, subscriber: Subscriber) -> str:
    """`when` in the reader's time zone, as the admin reads it: "Monday 23 March 2026, 08:00 CET
    (Europe/Berlin)"."""
    there = when.astimezone(zoneinfo.ZoneInfo(subscriber.time_zone))
    return f"{there:%A %-d %B %Y, %H:%M} {there.tzname()} ({subscriber.time_zone})"


def message(subscriber: Subscriber, parts: tuple[digests.Part, ...]) -> EmailMultiAlternatives:
    """The reader's digest of `parts` as the digest sender builds it: the rendered digest of their
    cadence, their links, the list headers."""
    links = emails.subscriber_links(subscriber)
    mail = release_mail.fill(digests.render(parts, subscriber.cadence), links)
    headers = emails.list_headers(links["unsubscribe_url"])
    return emails.build_message("digest", mail, [subscriber.email], headers)


def next_digest(subscriber: Subscriber) -> NextDigest:
    """The digest the reader would get at their next slot if nothing more were published."""
    if subscriber.status != Subscriber.Status.CONFIRMED:
        status = subscriber.get_status_display().lower()
        return NextDigest(None, None, f"they are {status}, not confirmed")
    if not subscriber.gets_digests:
        return NextDigest(None, None, f"they get {subscriber.get_cadence_display().lower()}")
    when = next_slot(subscriber)
    parts = tuple(digests.parts_for(subscriber, digests.newest_versions()))
    if not parts:
        return NextDigest(when, None, "nothing new for their next digest")
    return NextDigest(when, message(subscriber, parts), "")


def send_test(subscriber: Subscriber, to: str) -> bool:
    """Mail the reader's next digest to `to` alone, marked [TEST], their links replaced by preview
    links; no ledger row. False when there is nothing to send."""
    if not subscriber.gets_digests:
        return False
    parts = tuple(digests.parts_for(subscriber, digests.newest_versions()))
    if not parts:
        return False
    mail = release_mail.fill(
        digests.render(parts, subscriber.cadence), release_mail.preview_links()
    )
    release_mail.send_as_test(mail, to, kind="digest")
    return True


def as_sent(subscriber: Subscriber, page: str) -> emails.RenderedMail | None:
    """The digest named `page` (digests.page_of) as it was sent to `subscriber`, their links in it;
    None if they were sent no such digest."""
    if len(page) != digests.PAGE_LENGTH:
        return None
    made_of = (
        Delivery.objects.filter(
            subscriber=subscriber,
            mailing__kind=Mailing.Kind.DIGEST,
            status__in=[Delivery.Status.SENT, Delivery.Status.BOUNCED],
        )
        .exclude(digest_parts="")
        .order_by("-pk")
        .values_list("digest_parts", flat=True)
    )
    key = next((key for key in made_of if digests.page_of(key) == page), None)
    if key is None:
        return None
    try:
        parts, cadence = digests.parts_from_key(key)
        if any(digests.changes_of(part) is None for part in parts):
            return None
        mail = digests.render(parts, cadence)
    except (ValueError, Version.DoesNotExist):  # a damaged row; a version deleted by hand since
        return None
    return release_mail.fill(mail, emails.subscriber_links(subscriber))
