"""Reading a Keep a Changelog file (https://keepachangelog.com/en/1.1.0/).

Only what mlmw needs: the release sections ("## [1.2.0] - 2026-11-20"), their kind subsections
("### Added" …) and the "- entry" lines, including entries continued on indented lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from guide.models import ChangelogEntry

_RELEASE = re.compile(r"^##\s+\[?(?P<number>[^\]\s]+)\]?(?:\s+-\s+(?P<date>\S+))?.*$")
_KIND = re.compile(r"^###\s+(?P<kind>.+?)\s*$")
_ENTRY = re.compile(r"^[-*+]\s+(?P<text>.*)$")
_KINDS = {label.lower(): value for value, label in ChangelogEntry.Kind.choices}


class ChangelogError(ValueError):
    """The file is not a Keep a Changelog document mlmw can read, or lacks the asked-for release."""


@dataclass
class Release:
    number: str
    date: str | None
    entries: list[tuple[str, str]] = field(default_factory=list)  # (kind, inline Markdown text)


def parse_changelog(text: str) -> dict[str, Release]:
    """All releases in the file, keyed by their number as written ("Unreleased" included)."""
    releases: dict[str, Release] = {}
    release: Release | None = None
    kind: str | None = None
    in_entry = False  # an indented line continues the entry only if it directly follows one
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if line.startswith("## "):
            match = _RELEASE.match(line)
            if not match:
                raise ChangelogError(f"line {lineno}: cannot read the release heading {line!r}")
            number = match["number"]
            if number in releases:
                raise ChangelogError(f"line {lineno}: release {number} appears twice")
            release = releases[number] = Release(number=number, date=match["date"])
            kind, in_entry = None, False
        elif line.startswith("### "):
            if release is None:
                raise ChangelogError(f"line {lineno}: {line!r} comes before any release heading")
            label = _KIND.match(line)["kind"].lower()  # type: ignore[index]
            if label not in _KINDS:
                allowed = ", ".join(lbl for _, lbl in ChangelogEntry.Kind.choices)
                raise ChangelogError(
                    f"line {lineno}: unknown kind {line[4:]!r} (use one of {allowed})"
                )
            kind, in_entry = _KINDS[label], False
        elif release is not None and (match := _ENTRY.match(line)):
            if kind is None:
                raise ChangelogError(f"line {lineno}: an entry outside any ### kind section")
            release.entries.append((kind, match["text"].strip()))
            in_entry = True
        elif in_entry and release is not None and raw[:1] in {" ", "\t"} and line.strip():
            # A continuation of the previous entry (an indented wrapped line).
            entry_kind, entry_text = release.entries[-1]
            release.entries[-1] = (entry_kind, f"{entry_text} {line.strip()}")
        else:
            # Prose, blank lines, the "# Changelog" title and link definitions carry no entries.
            in_entry = False
    return releases


def entries_for(text: str, number: str) -> list[tuple[str, str]]:
    """The entries of release `number`; an error if the file has no such section or it is empty."""
    releases = parse_changelog(text)
    release = releases.get(number)
    if release is None:
        raise ChangelogError(f"the changelog has no section for {number}")
    if not release.entries:
        raise ChangelogError(f"the changelog section for {number} has no entries")
    return release.entries
