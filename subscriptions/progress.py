"""How far a mailing is, for the admin's live bar: each recipient counted once, by their latest
attempt (the mailing's own delivery, or a resend's: subscriptions.resend), the send rate and an ETA.

One aggregate query over the mailing's rows (and its resends'), per status, with the rows sent in
the last minute counted alongside: the bar polls it every 2 s while the mailing runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from subscriptions import resend
from subscriptions.models import Delivery, Mailing

# The rate is measured over this window (or since the start, when that is shorter).
RATE_WINDOW = timedelta(minutes=1)
# The bar's width in SVG user units: each status gets a share of it.
BAR_WIDTH = 1000
RUNNING = (Mailing.Status.PENDING, Mailing.Status.SENDING)
# The bar's order: what went out first, what is left last.
BAR_ORDER = [
    Delivery.Status.SENT,
    Delivery.Status.FAILED,
    Delivery.Status.SKIPPED,
    Delivery.Status.BOUNCED,
    Delivery.Status.QUEUED,
]


@dataclass(frozen=True)
class Segment:
    status: str
    label: str
    count: int
    x: int  # where it starts on the bar, 0..BAR_WIDTH
    width: int


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]  # recipients per delivery status, by their latest attempt
    total: int
    rate: float  # recipients sent per second, over RATE_WINDOW or since the start
    eta: timedelta | None  # time left for the queued ones at that rate; None when unknown or done
    running: bool  # the mailing or one of its resends is still sending: the bar keeps polling

    @property
    def eta_text(self) -> str:
        if self.eta is None:
            return ""
        minutes, seconds = divmod(int(self.eta.total_seconds()), 60)
        hours, minutes = divmod(minutes, 60)
        if hours:
            return f"{hours} h {minutes} min"
        return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"

    @property
    def segments(self) -> list[Segment]:
        """Each non-empty status as a stretch of the bar, widths rounded so they add up."""
        segments, done, x = [], 0, 0
        for status in BAR_ORDER:
            count, label = self.counts[status], Delivery.Status(status).label
            if not count:
                continue
            done += count
            end = round(BAR_WIDTH * done / self.total)
            segments.append(Segment(status, label, count, x, end - x))
            x = end
        return segments


def of(mailing: Mailing, now: datetime | None = None) -> Progress:
    now = now or timezone.now()
    ids = resend.attempts(mailing)
    family = list(Mailing.objects.filter(pk__in=ids).values_list("status", "started_at"))
    running = any(status in RUNNING for status, _ in family)
    # Measured from the start of what is sending now (a resend's, not its original's of days ago).
    starts = [at for status, at in family if at and (status in RUNNING or not running)]
    since = max(now - RATE_WINDOW, min(starts)) if starts else now - RATE_WINDOW
    rows = (
        resend.latest_attempts(mailing, ids)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"), recent=Count("id", filter=Q(sent_at__gte=since)))
    )
    counts = dict.fromkeys(Delivery.Status.values, 0)
    recent = 0
    for status, n, sent_lately in rows:
        counts[status] = n
        if status in (Delivery.Status.SENT, Delivery.Status.BOUNCED):  # bounced: sent, then bounced
            recent += sent_lately
    seconds = max((now - since).total_seconds(), 1.0)
    rate = recent / seconds
    queued = counts[Delivery.Status.QUEUED]
    eta = timedelta(seconds=round(queued / rate)) if queued and rate and running else None
    return Progress(counts, sum(counts.values()), rate, eta, running)
