"""Email address rules: what we accept, how we store it, and which addresses count as one mailbox."""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

import idna
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_LENGTH = 254  # RFC 5321 path limit
MAX_LOCAL_LENGTH = 64  # RFC 5321 local-part limit


def normalize_address(raw: str) -> str:
    """The address as we store and send it: trimmed, domain lower-case in IDNA (ASCII) form.

    Refuses display names ("Ann <ann@x>"), CR/LF (header injection), anything over 254 characters, a
    local part over 64, and a domain without a dot (a@localhost).
    The local part keeps its case (it is the mailbox owner's), but uniqueness ignores case: see key().
    """
    if not isinstance(raw, str):
        raise ValidationError("Enter an email address.", code="invalid")
    value = raw.strip()
    if not value:
        raise ValidationError("Enter an email address.", code="required")
    if "\r" in value or "\n" in value:
        raise ValidationError("An email address cannot contain line breaks.", code="invalid")
    if any(char in value for char in '<>"(),; \t'):
        raise ValidationError(
            "Enter the address alone, like ann@example.org, without a name or spaces.",
            code="invalid",
        )
    if value.count("@") != 1:
        raise ValidationError("Enter a valid email address, like ann@example.org.", code="invalid")
    local, domain = value.split("@")
    ascii_domain = _ascii_domain(domain.rstrip("."))
    if ascii_domain is None:
        raise ValidationError("The domain of this address is not valid.", code="invalid_domain")
    address = f"{local}@{ascii_domain}"
    if len(address) > MAX_LENGTH:
        raise ValidationError(
            f"An email address can have at most {MAX_LENGTH} characters.", code="max_length"
        )
    if len(local) > MAX_LOCAL_LENGTH:
        raise ValidationError(
            f"The part before the @ can have at most {MAX_LOCAL_LENGTH} characters.",
            code="max_length",
        )
    if "." not in ascii_domain:
        # "localhost", "intranet": Django's validator lets localhost through; no one outside this
        # machine's network has such an address.
        raise ValidationError("The domain of this address is not valid.", code="invalid_domain")
    validate_email(address)
    return address


@lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str | None:
    # Cached: a list has few distinct domains, and IDNA encoding dominates the cost of an import.
    try:
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        return None


def key(address: str) -> str:
    """The uniqueness key: one subscriber per address regardless of case."""
    return address.lower()


def mailbox_key(address: str) -> str:
    """Variants that may reach one inbox count as one for rate limits: dots are ignored, and so are
    sub-address tags after "+" (most providers) or "-" (Yahoo, Fastmail, Postfix set-ups). Folding
    "ann-marie" into "ann" only makes the limit stricter for both."""
    local, _, domain = address.lower().partition("@")
    local = re.split(r"[+-]", local, maxsplit=1)[0].replace(".", "")
    return f"{local}@{domain}"


def suppression_hash(address: str) -> str:
    """A keyed hash of the address: kept after erasure so an import cannot re-add it.

    Keyed with SUPPRESSION_KEY (not SECRET_KEY, which is rotated) so the list survives key rotation,
    and so the list alone does not let anyone test whether an address was ever subscribed.
    """
    digest = hmac.new(
        settings.SUPPRESSION_KEY.encode(), key(address).encode(), hashlib.sha256
    ).hexdigest()
    return digest
