"""Where a channel posts, as people may see it: webhook URLs often carry their secret in the path or
query, so the admin shows a URL as its scheme and host only."""

from __future__ import annotations

from urllib.parse import urlsplit


def shown(target: str) -> str:
    """A target as the admin shows it: a URL as its scheme and host only, since webhook URLs often
    carry their secret in the path or query ("https://hooks.example.org/…"); others unchanged."""
    parts = urlsplit(target)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return target
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def masked(text: str, target: str) -> str:
    """`text` (an error) with `target`, or its path and query, replaced by shown()."""
    parts = urlsplit(target)
    if parts.scheme not in {"http", "https"}:
        return text
    text = text.replace(target, shown(target))
    secret = target.split(parts.netloc, 1)[1]  # path, query and fragment as they were sent
    return text.replace(secret, "/…") if len(secret) > 1 else text
