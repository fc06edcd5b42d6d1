"""The sections a reader can choose in a guide: its top headings, named by a slug.

A guide's title is usually its only level-1 heading and its parts are level-2 headings, so the
choosable level is the shallowest one that occurs more than once (the shallowest at all when none
repeats). Deeper headings belong to the top section above them; what comes before the first top
section (the title, the introduction) belongs to none and has the slug "".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from guide.diff import ParsedGuide
from guide.markdown import slugify_heading
from guide.models import Guide
from guide.parses import of_version


@dataclass(frozen=True)
class Section:
    slug: str
    title: str


def _top_level(parsed: ParsedGuide) -> int | None:
    levels = Counter(section.level for section in parsed.sections if section.level > 0)
    if not levels:
        return None
    repeated = [level for level, count in levels.items() if count > 1]
    return min(repeated or levels)


def section_slugs(parsed: ParsedGuide) -> dict[str, str]:
    """Each section key of the parse (guide.diff's heading path, as in SectionDiff.key) -> the slug
    of the top section it is in ("" before the first). Slugs repeat-proofed like page anchors:
    a second "Tools" is "tools-2"."""
    top = _top_level(parsed)
    seen: Counter[str] = Counter()
    current = ""
    out: dict[str, str] = {}
    for section in parsed.sections:
        if top is not None and 0 < section.level <= top:
            if section.level == top:
                base = slugify_heading(section.title)
                seen[base] += 1
                current = base if seen[base] == 1 else f"{base}-{seen[base]}"
            else:
                current = ""  # a heading above the top level (a second title) starts no section
        out[section.key] = current
    return out


def top_sections(parsed: ParsedGuide) -> list[Section]:
    """The choosable sections of a parsed guide, in document order."""
    top = _top_level(parsed)
    slugs = section_slugs(parsed)
    return [
        Section(slugs[section.key], section.title)
        for section in parsed.sections
        if section.level == top and top is not None
    ]


def guide_sections(guide: Guide) -> list[Section]:
    """The choosable sections of the guide's latest published version (none before the first)."""
    latest = guide.latest_version()
    return top_sections(of_version(latest)) if latest is not None else []
