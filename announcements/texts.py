"""The texts of the posts: templates/announcements/<channel>/<name>, editable with the code.

.html templates are rendered with autoescaping (Telegram's HTML: every piece of content escaped);
everything else with the "text" engine (settings.TEMPLATES), which never escapes (Markdown, titles).
"""

from __future__ import annotations

from django.conf import settings
from django.template import engines
from django.template.loader import render_to_string

from guide.models import Version


def version_url(version: Version) -> str:
    return settings.SITE_URL + version.get_absolute_url()


def context(version: Version, shown: int | None = None) -> dict:
    """What every announcement template gets: the release, the first `shown` changelog entries (all
    when None) and how many more there are."""
    entries = list(version.entries.all())
    shown = len(entries) if shown is None else shown
    return {
        "guide": version.guide,
        "version": version,
        "entries": entries[:shown],
        "more": len(entries) - shown,
        "entry_count": len(entries),
        "version_url": version_url(version),
    }


def render(channel: str, name: str, version: Version, shown: int | None = None) -> str:
    template = f"announcements/{channel}/{name}"
    engine = None if name.endswith(".html") else engines["text"]
    ctx = context(version, shown)
    if engine is None:
        return render_to_string(template, ctx).strip()
    return engine.get_template(template).render(ctx).strip()
