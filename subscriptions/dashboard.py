"""The admin dashboard's figures and charts: how the list grows, what each release did to it, and how
many sign-ups get confirmed.

Figures are aggregate queries (grouped by week, by status) cached for DASHBOARD_CACHE_SECONDS, so a
list of a million subscribers costs one set of scans per few minutes, not one per page view.

Charts are SVG drawn server-side by leather (a small pure-Python charting library with no
dependencies): presentation attributes only, no style sheet and no script, so they sit inline in the
admin page under its strict Content-Security-Policy with nothing to serve or allow. pygal was tried
first: its SVG needs an inline style sheet, and importing it adds a legacy import hook to the whole
process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import leather
from django.core.cache import cache
from django.db.models import Count, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from subscriptions.models import Delivery, Mailing, Subscriber, SubscriberEvent

DASHBOARD_CACHE_SECONDS = 300
WEEKS = 12
RELEASES = 8
_LEFT = (
    SubscriberEvent.Kind.UNSUBSCRIBED,
    SubscriberEvent.Kind.BOUNCED,
    SubscriberEvent.Kind.COMPLAINED,
)


@dataclass(frozen=True)
class Week:
    start: datetime
    confirmed_total: int  # confirmed subscribers at the end of the week
    confirmed: int
    unsubscribed: int
    bounced: int
    complained: int


@dataclass(frozen=True)
class ReleaseOutcome:
    label: str
    sent: int
    failed: int
    bounced: int
    unsubscribed_within_7_days: int


def _cached(key: str, compute):
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, DASHBOARD_CACHE_SECONDS)
    return value


def list_growth(weeks: int = WEEKS) -> list[Week]:
    """The last `weeks` weeks, oldest first: confirmations, departures, and the confirmed total."""
    return _cached(f"dashboard:growth:{weeks}", lambda: _list_growth(weeks))


def _list_growth(weeks: int) -> list[Week]:
    now = timezone.now()
    this_week = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    starts = [this_week - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    counts: dict[tuple[datetime, str], int] = {}
    rows = (
        SubscriberEvent.objects.filter(
            created_at__gte=starts[0], kind__in=(SubscriberEvent.Kind.CONFIRMED, *_LEFT)
        )
        .annotate(week=TruncWeek("created_at"))
        .order_by()
        .values_list("week", "kind")
        .annotate(n=Count("id"))
    )
    for week, kind, n in rows:
        counts[(week, kind)] = n
    # Walk back from today's total: a week's end total is the next week's minus what it added.
    total = Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED).count()
    result: list[Week] = []
    for start in reversed(starts):
        week = Week(
            start=start,
            confirmed_total=total,
            confirmed=counts.get((start, SubscriberEvent.Kind.CONFIRMED), 0),
            unsubscribed=counts.get((start, SubscriberEvent.Kind.UNSUBSCRIBED), 0),
            bounced=counts.get((start, SubscriberEvent.Kind.BOUNCED), 0),
            complained=counts.get((start, SubscriberEvent.Kind.COMPLAINED), 0),
        )
        result.append(week)
        total = max(0, total - week.confirmed + week.unsubscribed + week.bounced + week.complained)
    return list(reversed(result))


def release_outcomes(limit: int = RELEASES) -> list[ReleaseOutcome]:
    """The last `limit` release mailings, oldest first, by what happened to their recipients."""
    return _cached(f"dashboard:releases:{limit}", lambda: _release_outcomes(limit))


def _release_outcomes(limit: int) -> list[ReleaseOutcome]:
    mailings = list(
        Mailing.objects.filter(kind=Mailing.Kind.RELEASE, started_at__isnull=False)
        .select_related("version__guide")
        .order_by("-started_at")[:limit]
    )
    outcomes = []
    for mailing in reversed(mailings):
        by_status = dict(
            Delivery.objects.filter(mailing=mailing)
            .order_by()
            .values_list("status")
            .annotate(n=Count("id"))
        )
        left = (
            SubscriberEvent.objects.filter(
                kind=SubscriberEvent.Kind.UNSUBSCRIBED,
                created_at__gte=mailing.started_at,
                created_at__lt=mailing.started_at + timedelta(days=7),
                subscriber__deliveries__mailing=mailing,
            )
            .values("subscriber")
            .distinct()
            .count()
        )
        version = mailing.version
        outcomes.append(
            ReleaseOutcome(
                label=f"{version.guide.slug} {version.number}" if version else str(mailing.pk),
                sent=by_status.get(Delivery.Status.SENT, 0),
                failed=by_status.get(Delivery.Status.FAILED, 0),
                bounced=by_status.get(Delivery.Status.BOUNCED, 0),
                unsubscribed_within_7_days=left,
            )
        )
    return outcomes


def confirmation_funnel() -> dict[str, int]:
    """Sign-ups of the last 30 days by where they are now: confirmed, still pending, gone."""

    def compute() -> dict[str, int]:
        since = timezone.now() - timedelta(days=30)
        counts = Subscriber.objects.filter(created_at__gte=since).aggregate(
            confirmed=Count("id", filter=Q(status=Subscriber.Status.CONFIRMED)),
            pending=Count("id", filter=Q(status=Subscriber.Status.PENDING)),
            left=Count(
                "id", filter=~Q(status__in=[Subscriber.Status.CONFIRMED, Subscriber.Status.PENDING])
            ),
        )
        return {key: int(value or 0) for key, value in counts.items()}

    return _cached("dashboard:funnel", compute)


_FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
_COLORS = ["#0b57d0", "#1e8e3e", "#f9ab00", "#d93025"]


def _theme() -> None:
    # leather keeps its look in module globals: set once, to the site's colours and fonts.
    for name in (
        "title_font_family",
        "tick_font_family",
        "legend_font_family",
        "axis_title_font_family",
    ):
        setattr(leather.theme, name, _FONT)
    leather.theme.background_color = "#ffffff"
    leather.theme.default_series_colors = _COLORS
    leather.theme.title_font_size = "15"
    leather.theme.tick_font_size = "12"
    leather.theme.legend_font_size = "13"


_theme()


def _svg(chart: leather.Chart | leather.Lattice, height: int = 300) -> SafeString:
    # leather writes the SVG with ElementTree, which escapes every label; presentation attributes
    # only (no <style>, no script), so it can sit in the page under the strict policy.
    svg = chart.to_svg(width=720, height=height)
    # A viewBox lets the page scale the chart to its column instead of cropping it.
    svg = svg.replace("<svg ", f'<svg viewBox="0 0 720 {height}" role="img" ', 1)
    return mark_safe(svg)  # noqa: S308


def _weeks_axis(chart: leather.Chart, weeks: list[Week]) -> None:
    chart.add_x_scale(weeks[0].start.date(), weeks[-1].start.date())
    chart.add_x_axis(tick_formatter=lambda value, index, count: f"{value:%d %b}")


def growth_chart() -> SafeString:
    weeks = list_growth()
    chart = leather.Chart("Confirmed subscribers, week by week")
    _weeks_axis(chart, weeks)
    chart.add_line([(w.start.date(), w.confirmed_total) for w in weeks], name="Confirmed")
    return _svg(chart)


def changes_chart() -> SafeString:
    weeks = list_growth()
    chart = leather.Chart("Each week: confirmed, unsubscribed, bounced, complained")
    _weeks_axis(chart, weeks)
    for name, values in (
        ("Confirmed", [w.confirmed for w in weeks]),
        ("Unsubscribed", [w.unsubscribed for w in weeks]),
        ("Bounced", [w.bounced for w in weeks]),
        ("Complained", [w.complained for w in weeks]),
    ):
        chart.add_line([(w.start.date(), v) for w, v in zip(weeks, values, strict=True)], name=name)
    return _svg(chart)


def releases_chart() -> SafeString:
    """One small chart per outcome, release by release (leather draws no stacked bars)."""
    outcomes = release_outcomes() or [ReleaseOutcome("no release mailed yet", 0, 0, 0, 0)]
    lattice = leather.Lattice(shape=leather.Bars())
    labels = [o.label for o in outcomes]
    lattice.add_many(
        [
            list(zip([o.sent for o in outcomes], labels, strict=True)),
            list(zip([o.failed for o in outcomes], labels, strict=True)),
            list(zip([o.bounced for o in outcomes], labels, strict=True)),
            list(zip([o.unsubscribed_within_7_days for o in outcomes], labels, strict=True)),
        ],
        titles=["Sent", "Failed", "Bounced", "Unsubscribed within 7 days"],
    )
    return _svg(lattice, height=120 + 70 * len(outcomes))


def funnel_chart() -> SafeString:
    funnel = confirmation_funnel()
    chart = leather.Chart("Sign-ups of the last 30 days, by where they are now")
    chart.add_bars(
        [
            (funnel["confirmed"], "Confirmed"),
            (funnel["pending"], "Pending confirmation"),
            (funnel["left"], "Left since"),
        ]
    )
    return _svg(chart, height=200)


def charts() -> list[SafeString]:
    """Every chart of the dashboard, in reading order."""
    return [growth_chart(), changes_chart(), releases_chart(), funnel_chart()]
