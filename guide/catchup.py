"""The catch-up: what changed in a guide between the version a reader last saw and a later one.

One function serves every place that shows a change: the compare page, the admin's preview, the release
mail (where `since` is the last version the subscriber was mailed) and, later, digests and the "what
changed since you last read" page. It returns the net change of the content (one diff of the two
texts, not a concatenation of each release's diff: a change made in one release and undone in a
later one is not there) and the changelog entries of every release in between, optionally only of
some kinds. The texts are compared through guide.parses.of_version: a published version's parse is stored,
so a catch-up loads two parses and diffs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from guide import parses
from guide.diff import GuideDiff, diff_guides
from guide.models import ChangelogEntry, Version


@dataclass(frozen=True)
class Release:
    version: Version
    entries: tuple[ChangelogEntry, ...]


@dataclass(frozen=True)
class CatchUp:
    since: Version | None
    until: Version
    diff: GuideDiff
    releases: tuple[Release, ...]  # newest first, `until` included, `since` excluded

    @property
    def entries(self) -> tuple[ChangelogEntry, ...]:
        return tuple(entry for release in self.releases for entry in release.entries)

    @property
    def is_empty(self) -> bool:
        return self.diff.is_empty and not self.entries


def catch_up(
    since: Version | None, until: Version, *, kinds: Iterable[str] | None = None
) -> CatchUp:
    """What a reader who last saw `since` (None: nothing) needs to know about `until`.

    `until` may be a draft (previews); the releases in between are the published ones, plus `until`.
    `kinds` limits the changelog entries to those Keep a Changelog kinds; the content diff is whole.
    """
    if since is not None and since.guide_id != until.guide_id:
        raise ValueError("since and until must be versions of the same guide")
    versions = list(Version.objects.between(since, until).newest_first())
    if until.pk not in {v.pk for v in versions}:
        versions.insert(0, until)
    entry_filter = {} if kinds is None else {"kind__in": list(kinds)}
    entries_by_version: dict[int, list[ChangelogEntry]] = {v.pk: [] for v in versions}
    for entry in ChangelogEntry.objects.filter(version__in=versions, **entry_filter):
        entries_by_version[entry.version_id].append(entry)
    releases = tuple(Release(v, tuple(entries_by_version[v.pk])) for v in versions)
    if since is not None and since.content == until.content:
        diff = GuideDiff()  # republished without a content change: nothing to parse or load
    else:
        # Published versions' parses are stored (loaded, not parsed again); a draft's is live.
        before = parses.of_version(since) if since is not None else None
        diff = diff_guides(before, parses.of_version(until))
    return CatchUp(since=since, until=until, diff=diff, releases=releases)
