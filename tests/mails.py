"""What a mail gives its reader: the site links in its text."""

from __future__ import annotations

import email
import email.policy
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


def comparable(raw: bytes) -> list:
    """Each MIME part's raw headers and transfer-encoded body, without what every send stamps anew:
    Message-ID, Date, and the multipart boundary (random each time a message is serialised)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    [boundary] = re.findall(r'boundary="([^"]+)"', message["Content-Type"])
    parts = []
    for part in message.walk():
        headers = [
            (name, value.replace(boundary, "BOUNDARY"))
            for name, value in part.raw_items()
            if name.lower() not in {"message-id", "date"}
        ]
        body = None if part.is_multipart() else part.get_payload()
        parts.append((headers, body))
    return parts


def digest_view_path(text: str) -> str:
    """The one "View in browser" link in a digest's text, as a path for the client."""
    found = set(
        re.findall(re.escape(settings.SITE_URL) + r"/manage/[^/\s\"'<>]+/digest/[0-9a-f]+/", text)
    )
    assert len(found) == 1, f"expected one View in browser link in the digest, found {found}"
    return found.pop().removeprefix(settings.SITE_URL)
