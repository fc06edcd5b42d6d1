"""A reader's filters on one guide: the Keep a Changelog kinds and the sections they chose, as the
fan-out groups readers by them and narrows a catch-up to them.

A delivery carries its reader's filters as a key (`key_sql` writes it, `Filters.from_key` reads
it): the stored kinds (reading.kinds_field, "" for all) and, after a "|", the chosen section slugs
of that guide as JSON (SectionFilter.sections, sorted when stored). Equal choices are equal keys,
so readers who chose alike share a variant; "" is no filter at all.

What a filter keeps (`narrow`): the changelog keeps only entries of the chosen kinds, the diff only
the sections under the chosen top sections (guide.sections). A catch-up matches when each filter
the reader set finds something: an entry of a chosen kind, a change in a chosen section. One that
does not match is mailed to nobody: the reader's delivery is skipped and their baseline stays, so
the next mail they get starts from it and carries these changes too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from guide import parses
from guide.catchup import CatchUp, Release
from guide.diff import GuideDiff
from guide.sections import section_slugs, top_sections
from subscriptions.models import SectionFilter, Subscriber
from subscriptions.reading import KIND_LABELS, KINDS

# The skipped delivery's reason.
NOTHING_MATCHES = (
    "nothing in this release matches the reader's filters; folded into their next mail"
)


def key_sql(subscriber: str, section_filter: str) -> str:
    """The SQL expression of a reader's key, from the aliases of their Subscriber row and of their
    SectionFilter row of the guide (LEFT JOINed: NULL when they filter no section)."""
    return (
        f"{subscriber}.kinds || CASE WHEN {section_filter}.sections IS NULL THEN '' "
        f"ELSE '|' || CAST({section_filter}.sections AS text) END"
    )


@dataclass(frozen=True)
class Filters:
    kinds: frozenset[str] | None = None  # None: every kind
    sections: frozenset[str] | None = None  # None: every section

    @classmethod
    def from_key(cls, key: str) -> Filters:
        kinds, _, sections = key.partition("|")
        chosen_sections = frozenset(json.loads(sections)) if sections else frozenset()
        return cls(
            kinds=frozenset(kinds.split(",")) if kinds else None,
            sections=chosen_sections or None,
        )

    @classmethod
    def of_reader(cls, subscriber: Subscriber, guide_id: int) -> Filters:
        """The reader's filters on the guide now: what key_sql keys their next delivery by."""
        chosen = SectionFilter.objects.filter(subscriber=subscriber, guide_id=guide_id).first()
        return cls(
            kinds=frozenset(subscriber.kinds.split(",")) if subscriber.kinds else None,
            sections=frozenset(chosen.sections) if chosen is not None and chosen.sections else None,
        )

    @property
    def any(self) -> bool:
        return self.kinds is not None or self.sections is not None

    def describe(self, section_titles: dict[str, str]) -> str:
        """What the mail says it leaves out: "Showing only: Removed, Security · sections: Models"."""
        parts = []
        if self.kinds is not None:
            parts.append(", ".join(KIND_LABELS[k] for k in KINDS if k in self.kinds))
        if self.sections is not None:
            titles = [section_titles.get(slug, slug) for slug in sorted(self.sections)]
            parts.append("sections: " + ", ".join(titles))
        return "Showing only: " + " · ".join(parts) if parts else ""


def narrow(changes: CatchUp, chosen: Filters) -> CatchUp | None:
    """`changes` with only the chosen kinds' entries and the chosen sections' changes; None when
    a filter the reader set finds nothing (the release is not mailed to them)."""
    if not chosen.any:
        return changes
    releases = changes.releases
    if chosen.kinds is not None:
        releases = tuple(
            Release(r.version, tuple(e for e in r.entries if e.kind in chosen.kinds))
            for r in releases
        )
        if not any(r.entries for r in releases):
            return None
    diff = changes.diff
    if chosen.sections is not None:
        slugs = section_slugs(parses.of_version(changes.until))
        if changes.since is not None:
            # A removed section's key is only in the older text.
            slugs = {**section_slugs(parses.of_version(changes.since)), **slugs}
        diff = GuideDiff(
            sections=tuple(s for s in diff.sections if slugs.get(s.key, "") in chosen.sections)
        )
        if diff.is_empty:
            return None
    return replace(changes, diff=diff, releases=releases)


def section_titles(changes: CatchUp) -> dict[str, str]:
    """slug -> title of the guide's top sections at the catch-up's newest version."""
    return {s.slug: s.title for s in top_sections(parses.of_version(changes.until))}
