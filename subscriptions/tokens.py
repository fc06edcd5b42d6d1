"""Signed links. Each names the subscriber by a random uid, never by address.

- confirm: expires (CONFIRMATION_MAX_AGE_HOURS) and works once (it carries the current nonce).
- unsubscribe and manage: never expire (RFC 8058 links must keep working in old mails); they stay
  valid across SECRET_KEY rotation through SECRET_KEY_FALLBACKS.
- A release mail's "View in browser" link and the catch-up page use the manage token: both show
  the reader less than their manage page does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Protocol

from django.conf import settings
from django.core import signing

from subscriptions.models import Subscriber

_CONFIRM = "mlmw.subscriptions.confirm"
_UNSUBSCRIBE = "mlmw.subscriptions.unsubscribe"
_MANAGE = "mlmw.subscriptions.manage"


class BadToken(Exception):
    """Tampered, malformed or for nobody."""


class ExpiredToken(BadToken):
    pass


@dataclass(frozen=True)
class ConfirmClaim:
    uid: str
    nonce: str


def single_use_token(uid: object, nonce: str, *, salt: str) -> str:
    """A link secret that expires (CONFIRMATION_MAX_AGE_HOURS) and works once: it names a row by its
    random uid and carries the row's current nonce. Subscription confirmations and access-request
    verifications both use it, each with its own salt so one kind never passes for the other."""
    return signing.dumps({"u": str(uid), "n": nonce}, salt=salt)


def read_single_use_token(token: str, *, salt: str) -> ConfirmClaim:
    try:
        data = signing.loads(token, salt=salt, max_age=settings.CONFIRMATION_MAX_AGE_HOURS * 3600)
    except signing.SignatureExpired:
        raise ExpiredToken from None
    except signing.BadSignature:
        raise BadToken from None
    if not isinstance(data, dict) or not {"u", "n"} <= data.keys():
        raise BadToken
    return ConfirmClaim(uid=str(data["u"]), nonce=str(data["n"]))


def confirm_token(subscriber: Subscriber) -> str:
    return single_use_token(subscriber.uid, subscriber.confirm_nonce, salt=_CONFIRM)


def read_confirm_token(token: str) -> ConfirmClaim:
    return read_single_use_token(token, salt=_CONFIRM)


def _signer(salt: str) -> signing.Signer:
    return signing.Signer(salt=salt)


class HasUid(Protocol):
    uid: uuid.UUID


@lru_cache(maxsize=8)
def _mac(salt: str, secret_key: str) -> hmac.HMAC | None:
    """An HMAC keyed as django.core.signing.Signer(salt=salt) keys it (salted_hmac: the key is
    sha256(salt + "signer" + SECRET_KEY)), ready to be copied per value; None if that is not how
    this Django signs any more (checked once on a probe value), and Signer itself is used.

    Signer derives that key again for every value it signs: two links per recipient made it a sixth
    of a 1000-recipient batch's time. Keyed on SECRET_KEY too, so a changed key is never served from
    the cache. tests/test_tokens.py checks the output against Signer's.
    """
    key = hashlib.sha256(f"{salt}signer{secret_key}".encode()).digest()
    mac = hmac.new(key, digestmod=hashlib.sha256)
    probe = "0123456789abcdef"
    if _signed(mac, probe) != signing.Signer(key=secret_key, salt=salt).sign(probe):
        return None
    return mac


def _signed(mac: hmac.HMAC, value: str) -> str:
    mac = mac.copy()
    mac.update(value.encode())
    return f"{value}:{base64.urlsafe_b64encode(mac.digest()).rstrip(b'=').decode()}"


def _sign(salt: str, value: str) -> str:
    """signing.Signer(salt=salt).sign(value) with the current SECRET_KEY, without its per-call setup."""
    return _signing(salt)(value)


def _signing(salt: str) -> Callable[[str], str]:
    """signing.Signer(salt=salt).sign bound to the SECRET_KEY of now (settings are read once)."""
    mac = _mac(salt, settings.SECRET_KEY)
    if mac is None:
        return _signer(salt).sign
    return partial(_signed, mac)


def unsubscribe_token(subscriber: HasUid) -> str:
    return _sign(_UNSUBSCRIBE, subscriber.uid.hex)


def manage_token(subscriber: HasUid) -> str:
    return _sign(_MANAGE, subscriber.uid.hex)


def link_token_makers() -> dict[str, Callable[[HasUid], str]]:
    """unsubscribe_token and manage_token with the key read once, for a whole batch of recipients
    (reading settings.SECRET_KEY goes through LazySettings: as costly as the signing itself)."""
    unsubscribe, manage = _signing(_UNSUBSCRIBE), _signing(_MANAGE)
    return {
        "unsubscribe": lambda subscriber: unsubscribe(subscriber.uid.hex),
        "manage": lambda subscriber: manage(subscriber.uid.hex),
    }


def _read(token: str, salt: str) -> Subscriber | None:
    """The subscriber a valid token names (None if erased since); BadToken if tampered."""
    try:
        uid = _signer(salt).unsign(token)
    except signing.BadSignature:
        raise BadToken from None
    return Subscriber.objects.filter(uid=uid).first()


def read_unsubscribe_token(token: str) -> Subscriber | None:
    return _read(token, _UNSUBSCRIBE)


def read_manage_token(token: str) -> Subscriber | None:
    return _read(token, _MANAGE)
