"""What a mail gives its reader: the site links in its text."""

from __future__ import annotations

import re

from django.conf import settings


def mailed_path(text: str, prefix: str) -> str:
    """The one site link under `prefix` (like "/confirm/") in a mail's text, as a path for the client."""
    found = set(re.findall(re.escape(settings.SITE_URL + prefix) + r"[^\s\"'<>]+/", text))
    assert len(found) == 1, f"expected one {prefix} link in the mail, found {sorted(found)}"
    return found.pop().removeprefix(settings.SITE_URL)


def view_path(text: str) -> str:
    """The one "View in browser" link in a mail's text, as a path for the client."""
    found = set(re.findall(re.escape(settings.SITE_URL) + r"/manage/[^/\s\"'<>]+/mail/\d+/", text))
    assert len(found) == 1, f"expected one View in browser link in the mail, found {sorted(found)}"
    return found.pop().removeprefix(settings.SITE_URL)
