"""The release mail's words and its size budget: what a reader sees before opening it (subject,
preheader), on its first screen (title, one-line summary, two buttons), and how much of the
changelog and the diff fits under the budget.

Gmail clips a message whose HTML passes ~102 KB and hides the rest, the unsubscribe footer first.
So the mail is rendered with the full item limit first and, while it does not fit, again with fewer
diff items and changelog entries; it always cuts at whole items and says how many more are on the
web. Each render is measured after CSS inlining, as sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.safestring import mark_safe

from guide.catchup import CatchUp
from guide.diff_render import render_html, render_text
from subscriptions import emails

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
