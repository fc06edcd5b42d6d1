"""Signed links. Each names the subscriber by a random uid, never by address.

- confirm: expires (CONFIRMATION_MAX_AGE_HOURS) and works once (it carries the current nonce).
- unsubscribe and manage: never expire (RFC 8058 links must keep working in old mails); they stay
  valid across SECRET_KEY rotation through SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def unsubscribe_token(subscriber: Subscriber) -> str:
    return _signer(_UNSUBSCRIBE).sign(subscriber.uid.hex)


def manage_token(subscriber: Subscriber) -> str:
    return _signer(_MANAGE).sign(subscriber.uid.hex)


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
