"""ESP webhook bodies as the ESP sends them, POSTed to anymail's tracking views.

Each body is a file of tests/data/ with the recipient and ids templated in; Mailgun's are signed as
Mailgun signs them, and every POST carries the basic auth of WEBHOOK_SECRET.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import uuid
from base64 import b64encode
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.test import Client

from tests.conftest import DATA

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)
URLS = {"postmark": "/anymail/postmark/tracking/", "mailgun": "/anymail/mailgun/tracking/"}
SECRET = settings.ANYMAIL["WEBHOOK_SECRET"]
AUTH = "Basic " + b64encode(SECRET.encode()).decode()
SIGNING_KEY = settings.ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"]
OVER_QUOTA = "smtp;452 4.2.2 The email account that you tried to reach is over quota."
_ids = itertools.count(4323372036854775000)


def load(name: str, **values: Any) -> dict:
    """tests/data/<name> with each {{placeholder}} filled in ("{{x}}" alone takes the value's type)."""

    def fill(node):
        if isinstance(node, dict):
            return {key: fill(value) for key, value in node.items()}
        if isinstance(node, list):
            return [fill(value) for value in node]
        if isinstance(node, str):
            if whole := re.fullmatch(r"\{\{(\w+)\}\}", node):
                return values[whole[1]]
            return re.sub(r"\{\{(\w+)\}\}", lambda m: str(values[m[1]]), node)
        return node

    return fill(json.loads((DATA / name).read_text()))


def postmark(name: str, recipient: str, **values: Any) -> dict:
    defaults = {"event_id": next(_ids), "message_id": str(uuid.uuid4()), "details": OVER_QUOTA}
    return load(f"postmark_{name}.json", recipient=recipient, **{**defaults, **values})


def mailgun(name: str, recipient: str, **values: Any) -> dict:
    defaults = {
        "event_id": secrets.token_urlsafe(16),
        "timestamp": NOW.timestamp() + 5.123456,
        "message_id": f"20261001120000.{secrets.token_hex(8).upper()}@mg.mlmw.example",
        "recipient_domain": recipient.rpartition("@")[2],
        "attempt": 1,
        "signature_timestamp": str(int(NOW.timestamp()) + 6),  # when Mailgun posts
        "token": secrets.token_hex(25),
    }
    body = load(f"mailgun_{name}.json", recipient=recipient, **{**defaults, **values})
    return sign(body)


def sign(body: dict, *, key: str = SIGNING_KEY, token: str | None = None) -> dict:
    """Sign as Mailgun does: HMAC-SHA256 of timestamp + token, keyed with the webhook signing key."""
    signature = body["signature"]
    if token is not None:
        signature["token"] = token
    message = f"{signature['timestamp']}{signature['token']}".encode()
    signature["signature"] = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
    return body


def post(client: Client, esp: str, body: dict | str, *, auth: str | None = AUTH):
    headers = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(URLS[esp], data=data, content_type="application/json", **headers)
