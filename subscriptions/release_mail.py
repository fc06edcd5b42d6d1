"""The release mail: its words and its size budget, its variants, its personal fields, its preview.

What a reader sees before opening it (subject, preheader), on its first screen (title, one-line
summary, two buttons), and how much of the changelog and the diff fits under the budget.

Gmail clips a message whose HTML passes ~102 KB and hides the rest, the unsubscribe footer first.
So the mail is rendered with the full item limit first and, while it does not fit, again with fewer
diff items and changelog entries; it always cuts at whole items and says how many more are on the
web. Each render is measured after CSS inlining, as sent.

A variant is the mail for everyone sharing a baseline, rendered once with each personal field
(PERSONAL_FIELDS: the links emails.personal_links builds) as a marker; `fill` puts each recipient's
values, or the ESP's merge placeholders, in place of the markers. `next_mail_for` builds one
reader's message through the fan-out's own steps (the admin's "preview as a subscriber"), and
`as_sent` rebuilds the mail a reader was sent (their "View in browser" page).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils.safestring import mark_safe

from guide.catchup import CatchUp, catch_up
from guide.diff_render import render_html, render_text
from guide.models import Version
from subscriptions import emails, filters
from subscriptions.filters import Filters
from subscriptions.models import CADENCE_BUMPS, Baseline, Delivery, Subscriber

NO_FILTERS = Filters()
SUBJECT_MAX = 78  # RFC 5322's line length, and about what a phone's inbox shows
_ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"
# Older releases of a catch-up are listed by title only; past this many, one line links the rest.
EARLIER_SHOWN = 12


@dataclass(frozen=True, slots=True)
class Cut:
    """How much of a release mail to render: diff items, this release's changelog entries and
    older releases (None: all)."""

    items: int
    entries: int | None
    earlier: int


def _cut_at_word(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    if space > 0:
        cut = cut[:space]
    return cut.rstrip(" ,;:-\N{EN DASH}\N{EM DASH}") + _ELLIPSIS


def subject(guide_title: str, number: str, title: str, earlier: int = 0) -> str:
    """`<guide> <version>: <release title>`, at most SUBJECT_MAX characters, cut at a word; a
    catch-up ends "… and N earlier releases", which is never the part cut."""
    head = f"{guide_title} {number}"
    line = f"{head}: {title}" if title.strip() else head
    if not earlier:
        return _cut_at_word(line, SUBJECT_MAX)
    tail = f" and {earlier} earlier release{'' if earlier == 1 else 's'}"
    room = SUBJECT_MAX - len(tail) - 1  # the comma or the ellipsis
    if len(line) <= room:
        return f"{line},{tail}"
    return _cut_at_word(line, room + 1) + tail


# The first screen's line names this many counts; the preheader and the diff carry them all.
SUMMARY_COUNTS = 3


def summary_line(changes: CatchUp) -> str:
    """The first screen's one line: what changed since the reader's last version, its three
    largest kinds of change (the summary's order puts what readers care about first)."""
    parts = changes.diff.summary().split(", ")
    counts = ", ".join(parts[:SUMMARY_COUNTS]) + (
        " and more" if len(parts) > SUMMARY_COUNTS else ""
    )
    if changes.since is None:
        return f"The whole guide, as this is your first mail about it: {counts}."
    return f"Since {changes.since.number}, the last version you heard about from us: {counts}."


def preheader(changes: CatchUp) -> str:
    """The hidden preview text inboxes show after the subject: the counts."""
    counts = changes.diff.summary()
    since = f" since {changes.since.number}" if changes.since is not None else ""
    releases = len(changes.releases)
    if releases > 1:
        return f"{counts}{since}, over {releases} releases"
    return f"{counts}{since}"


def context(changes: CatchUp, cut: Cut | None = None) -> dict[str, Any]:
    """The release templates' context for `changes` rendered under `cut` (default: the full item
    limit), without the personal links (the fan-out fills those per recipient)."""
    version, since = changes.until, changes.since
    guide = version.guide
    cut = cut or next(cuts())
    site = settings.SITE_URL
    version_url = site + version.get_absolute_url()
    changelog_url = site + reverse("guide:guide_changelog", args=[guide.slug])
    compare_url = (
        site + reverse("guide:compare", args=[guide.slug, since.number, version.number])
        if since is not None
        else changelog_url
    )
    # Newest first: this release, then the earlier ones a catch-up covers.
    this, earlier = (changes.releases[0], changes.releases[1:]) if changes.releases else (None, ())
    entries = this.entries if this is not None else ()
    shown_entries = entries if cut.entries is None else entries[: cut.entries]
    return {
        "guide": guide,
        "version": version,
        "since": since,
        "catchup": changes,
        "subject": subject(guide.title, version.number, version.title, len(earlier)),
        "preheader": preheader(changes),
        "headline": version.title or f"Version {version.number}",
        "summary_line": summary_line(changes),
        "compare_url": compare_url,
        "version_url": version_url,
        "changelog_url": changelog_url,
        "entries": shown_entries,
        "entries_hidden": len(entries) - len(shown_entries),
        "earlier": earlier[: cut.earlier],
        "earlier_hidden": max(len(earlier) - cut.earlier, 0),
        "diff_html": mark_safe(  # noqa: S308 - render_html escapes every piece of content
            render_html(changes.diff, limit=cut.items, more_url=compare_url)
        ),
        "diff_text": render_text(changes.diff, limit=cut.items, more_url=compare_url),
    }


def cuts(items: int | None = None) -> Iterator[Cut]:
    """The cuts tried in turn, from the full item limit down to a mail of headlines only."""
    items = settings.MLMW_DIFF_ITEM_LIMIT if items is None else items
    yield Cut(items=items, entries=None, earlier=EARLIER_SHOWN)
    yield Cut(items=items, entries=60, earlier=EARLIER_SHOWN)
    for n in (40, 25, 15, 8, 4):
        if n < items:
            yield Cut(items=n, entries=min(30, 4 * n), earlier=min(EARLIER_SHOWN, n))
    yield Cut(items=0, entries=5, earlier=3)


def render(changes: CatchUp, extra: dict[str, Any] | None = None) -> emails.RenderedMail:
    """The release mail of `changes`, the largest cut that fits the size budget."""
    return emails.render_fitting(
        "release", ({**context(changes, cut), **(extra or {})} for cut in cuts())
    )


# --- Variants and their personal fields --------------------------------------------------------------

PERSONAL_FIELDS = tuple(emails.PERSONAL_LINKS)


def marker(name: str) -> str:
    # Letters, digits and hyphens only: survives HTML escaping and CSS inlining unchanged.
    return f"MLMWVAR-{name.replace('_', '-')}-MLMWVAR"


def merge_placeholders() -> dict[str, str]:
    """The ESP's merge placeholder of each personal field (MAIL_MERGE_PLACEHOLDER, e.g. Mailgun's
    %recipient.unsubscribe_url%): one message for a whole batch, filled in by the ESP."""
    return {name: settings.MAIL_MERGE_PLACEHOLDER.format(name) for name in PERSONAL_FIELDS}


def fill(mail: emails.RenderedMail, values: dict[str, str]) -> emails.RenderedMail:
    """`mail` with each personal field's marker replaced by its value (escaped in the HTML)."""

    def filled(text: str, escape: bool) -> str:
        for name, value in values.items():
            text = text.replace(marker(name), html.escape(value) if escape else value)
        return text

    return replace(
        mail,
        subject=filled(mail.subject, False),
        text=filled(mail.text, False),
        html=filled(mail.html, True),
    )


def release_context(since: Version | None, version: Version) -> dict:
    """The release mail's template context for a reader whose baseline is `since`, at the full item
    limit and without the personal links (the fan-out fills those per recipient; the naive bench
    loop per message). render_variant renders it within the size budget."""
    return context(catch_up(since, version))


def render_markers(
    since: Version | None, version: Version, chosen: Filters = NO_FILTERS
) -> emails.RenderedMail | None:
    """The release mail for everyone whose baseline is `since` and whose filters are `chosen`,
    personal fields as markers, cut to fit the size budget; None when the release has nothing for
    those filters (filters.narrow). Filtered, it says what it leaves out and links the full change."""
    return render_narrowed(catch_up(since, version), chosen)


def render_narrowed(changes: CatchUp, chosen: Filters) -> emails.RenderedMail | None:
    """render_markers() of a catch-up already made."""
    narrowed = filters.narrow(changes, chosen)
    if narrowed is None:
        return None
    extra: dict[str, Any] = {name: marker(name) for name in PERSONAL_FIELDS}
    # The reader's catch-up page and this mail on the web hang under their manage link: one
    # personal field for three links.
    extra["catch_up_url"] = marker("manage_url") + emails.under_manage("subscriptions:catch_up")
    extra["view_url"] = marker("manage_url") + emails.under_manage(
        "subscriptions:view_mail", narrowed.until.pk
    )
    extra["filtered"] = chosen.describe(filters.section_titles(narrowed))
    return render(narrowed, extra)


# 20 baselines x 4 filter sets is 80 variants; a mail is at most ~200 KB (HTML and text), so a full
# cache holds ~25 MB. Past 128, the least recently used variant goes (a batch renders it again).
VARIANT_CACHE_SIZE = 128


@lru_cache(maxsize=32)
def published_catch_up(since_id: int | None, version_id: int) -> CatchUp:
    """catch_up() of published versions, by id, cached per process: every filter set of a baseline
    narrows the same one (32: one per baseline, a diff is a few hundred KB at most)."""
    version = Version.objects.select_related("guide").get(pk=version_id)
    since = Version.objects.get(pk=since_id) if since_id else None
    return catch_up(since, version)


# A release's batches come in variant order, a baseline's filter variants side by side, and only
# the rendered mail is kept (render_variant): a few catch-ups suffice, and the other baselines'
# diffs are freed (12 MiB of a worker's peak with 80 variants at 1M). Digests use
# published_catch_up, whose results their narrowed parts (digests.changes_of) hold anyway.
@lru_cache(maxsize=4)
def variant_catch_up(since_id: int | None, version_id: int) -> CatchUp:
    """published_catch_up() for rendering a release's variants, in a smaller cache."""
    return published_catch_up.__wrapped__(since_id, version_id)


@lru_cache(maxsize=VARIANT_CACHE_SIZE)
def render_variant(
    since_id: int | None, version_id: int, filters_key: str = ""
) -> emails.RenderedMail | None:
    """render_markers() of published versions, by id and filters key (subscriptions.filters),
    cached per process: published versions never change, so the cache needs no invalidation."""
    changes = variant_catch_up(since_id, version_id)
    return render_narrowed(changes, Filters.from_key(filters_key))


def message(
    mail: emails.RenderedMail, to: list[str], headers: dict[str, str]
) -> EmailMultiAlternatives:
    """A release message of `mail`, filled, to `to` (one recipient, or a batch the ESP merges)."""
    return emails.build_message("release", mail, to, headers)


def personal_message(
    variant: emails.RenderedMail, links: dict[str, str], to: str
) -> EmailMultiAlternatives:
    """One recipient's release message: `variant` filled with their `links` (emails.personal_links
    with the version), the list headers carrying their own way out."""
    return message(fill(variant, links), [to], emails.list_headers(links["unsubscribe_url"]))


def as_sent(subscriber: Subscriber, version_id: int) -> emails.RenderedMail | None:
    """The release mail of `version_id` as the fan-out sent it to `subscriber`: the variant of the
    baseline their delivery recorded, filled with their links. None if it was never sent to them."""
    delivery = (
        Delivery.objects.filter(
            subscriber=subscriber,
            mailing__version_id=version_id,
            status__in=[Delivery.Status.SENT, Delivery.Status.BOUNCED],
        )
        .order_by("-pk")
        .first()
    )
    if delivery is None:
        return None
    variant = render_variant(delivery.since_version_id, version_id, delivery.filters)
    if variant is None:
        return None
    links = emails.personal_links([subscriber])[0]
    return fill(variant, links)


# --- Preview as a subscriber ----------------------------------------------------------------------


def baseline_of(subscriber: Subscriber, version: Version) -> Version | None:
    """The last version of `version`'s guide mailed to `subscriber`: where their next mail starts."""
    row = (
        Baseline.objects.filter(subscriber=subscriber, guide_id=version.guide_id)
        .select_related("version")
        .first()
    )
    return row.version if row is not None else None


def left_out(subscriber: Subscriber, version: Version) -> str:
    """Why the fan-out of `version` would send `subscriber` nothing ("" when it sends them the
    mail), by the rules of subscriptions.audience."""
    if subscriber.status != Subscriber.Status.CONFIRMED:
        return f"they are {subscriber.get_status_display().lower()}, not confirmed"
    if not subscriber.guides.filter(pk=version.guide_id).exists():
        return f"they do not follow {version.guide.title}"
    if subscriber.gets_digests:
        # Their mail is the digest (subscriptions.digest_mail.next_digest previews it).
        return (
            f"they get {subscriber.get_cadence_display().lower()} instead of each release: "
            f"{version.number} joins their next digest once published"
        )
    if version.bump_level() not in CADENCE_BUMPS.get(subscriber.cadence, set()):
        return (
            f"{version.number} is a {version.bump_level()} release and they chose "
            f"{subscriber.get_cadence_display().lower()}"
        )
    since = baseline_of(subscriber, version)
    if since is not None and Version.objects.at_or_above(version).filter(pk=since.pk).exists():
        return f"they were already mailed {since.number}"
    if (
        filters.narrow(catch_up(since, version), Filters.of_reader(subscriber, version.guide_id))
        is None
    ):
        return "nothing in it matches their filters: it is folded into their next mail"
    return ""


def next_mail_for(subscriber: Subscriber, version: Version) -> EmailMultiAlternatives | None:
    """The message the fan-out of `version` (a draft too) would send `subscriber`, built by the
    fan-out's own steps: the variant of their baseline, filled with their links. The same bytes
    as sent but for the Message-ID and Date a send stamps. None if they would get nothing
    (left_out says why)."""
    if left_out(subscriber, version):
        return None
    since = baseline_of(subscriber, version)
    variant = render_markers(since, version, Filters.of_reader(subscriber, version.guide_id))
    if variant is None:
        return None
    links = emails.personal_links([subscriber])[0]
    return personal_message(variant, links, subscriber.email)


def send_preview_test(subscriber: Subscriber, version: Version, to: str) -> None:
    """Mail `subscriber`'s next mail of `version` to `to` alone, marked as a test: their links
    replaced by preview links (nobody acts on their subscription from it); no ledger row."""
    chosen = Filters.of_reader(subscriber, version.guide_id)
    variant = render_markers(baseline_of(subscriber, version), version, chosen)
    if variant is not None:
        send_as_test(fill(variant, preview_links()), to)


# --- The editor's preview and test ------------------------------------------------------------------


def preview(version: Version) -> emails.RenderedMail:
    """The release mail of `version` (a draft too) as someone mailed the previous published
    version would get it, personal fields as markers. Never cached: drafts change."""
    return render_markers(version.previous(), version)


def example(version: Version) -> emails.RenderedMail:
    """preview() with each personal link shown as a preview link: what the editor sees."""
    return fill(preview(version), preview_links())


def preview_links() -> dict[str, str]:
    """The personal links of a preview or test mail: a page saying it is a preview, for the manage
    link and every reader's page under it (catch-up, View in browser) and for Unsubscribe. Nobody's
    token is in such a mail, and no link in it leads nowhere."""
    base = emails.absolute(reverse("subscriptions:preview_link"))
    return {"manage_url": base, "unsubscribe_url": base + "one-click-unsubscribe/"}


def send_as_test(mail: emails.RenderedMail, to: str, kind: str = "release") -> None:
    """Mail `mail` (filled with preview_links) to `to` alone, subject marked [TEST], without the
    list's way out (nobody on the list gets it); no ledger row."""
    mail = replace(mail, subject=f"[TEST] {mail.subject}")
    headers = {"Auto-Submitted": "auto-generated", "List-Id": settings.LIST_ID}
    emails.build_message(kind, mail, [to], headers).send()


def send_test(version: Version, to: str) -> None:
    """Mail example(version) to `to` alone, marked as a test, with no way to unsubscribe (nobody
    on the list gets it); no ledger row."""
    send_as_test(example(version), to)
