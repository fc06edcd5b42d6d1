"""anymail's Mailgun backend with three of its steps made cheap for batches of 1000 recipients.

Set EMAIL_BACKEND=subscriptions.esp.MailgunBatchBackend (same ANYMAIL_MAILGUN_* settings as anymail's
own backend). It sends exactly what anymail's Mailgun backend sends, field for field: anymail still
builds the payload (recipient-variables, merge headers, metadata), raises its exceptions and parses
Mailgun's answer. Three overridable steps change, because at 1000 recipients they were two thirds of a
batch's CPU time in the worker (bench/profile_batch.py):

- The `to` addresses. anymail parses each with the email package's full RFC 5322 parser (getaddresses,
  then headerregistry.Address(addr_spec=...)): ~1.5 ms per 10 addresses. Subscriber addresses are
  validated and normalised when they are stored (subscriptions.addresses), so a plain `local@domain`
  is split at its last "@" instead; anything else (a display name, quotes, non-ASCII) still goes
  through anymail's parser, and anything the plain form would misread is refused by the regex.
- The body encoding. requests url-encodes form fields byte by byte in Python (urllib.parse.quote):
  ~0.5 MB per 1000 recipients. Mailgun takes multipart/form-data as well (its documented form for
  attachments), which needs no escaping at all: the fields are joined as they are.
- merge_data / merge_metadata are not walked for lazy strings (see BatchMailgunPayload).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from anymail.backends.mailgun import EmailBackend as AnymailMailgunBackend
from anymail.backends.mailgun import MailgunPayload
from anymail.utils import EmailAddress, parse_address_list

# local@domain with nothing a parser would treat specially: no spaces, quotes, brackets, commas,
# comments, semicolons, backslashes; ASCII only (non-ASCII takes anymail's path for IDNA/EAI).
_PLAIN = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def parse_recipients(addresses: Any) -> list[EmailAddress]:
    """anymail's parse_address_list, with plain `local@domain` strings split instead of parsed."""
    if isinstance(addresses, str) or not isinstance(addresses, list | tuple):
        return parse_address_list(addresses, field="to")
    parsed: list[EmailAddress] = []
    for address in addresses:
        if isinstance(address, str) and _PLAIN.fullmatch(address):
            username, domain = address.rsplit("@", 1)
            parsed.append(EmailAddress(username=username, domain=domain))
        else:
            parsed.extend(parse_address_list([address], field="to"))
    return parsed


def encode_multipart(fields: dict[str, Any]) -> tuple[bytes, str]:
    """A multipart/form-data body of `fields` (a value may be a list: one part each) and its
    Content-Type. The boundary is random and checked against the values."""
    pairs = [
        (name, value)
        for name, values in fields.items()
        for value in (values if isinstance(values, list | tuple) else [values])
        if value is not None
    ]
    encoded = [(name.encode(), str(value).encode()) for name, value in pairs]
    while True:
        boundary = secrets.token_hex(16).encode()
        if not any(boundary in value for _name, value in encoded):
            break
    delimiter = b"--" + boundary
    parts = [
        b'%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (delimiter, _quote_name(name), value)
        for name, value in encoded
    ]
    body = b"".join(parts) + delimiter + b"--\r\n"
    return body, f"multipart/form-data; boundary={boundary.decode()}"


def _quote_name(name: bytes) -> bytes:
    # Field names are anymail's ("to", "h:List-Unsubscribe", "v:delivery"...): escape as HTML5 does.
    return name.replace(b'"', b"%22").replace(b"\r", b"%0D").replace(b"\n", b"%0A")


class BatchMailgunPayload(MailgunPayload):
    base_message_attrs = tuple(
        (attr, combiner, "parse_recipients" if attr == "to" else converter)
        for attr, combiner, converter in MailgunPayload.base_message_attrs
    )

    # merge_data and merge_metadata are taken as they are: anymail walks every value of every
    # recipient to turn lazy translation strings into text, and the fan-out's are plain strings.
    # (A lazy string here would fail anymail's JSON serialisation with a clear error, not be sent.)
    anymail_message_attrs = tuple(
        (attr, combiner, None if attr in ("merge_data", "merge_metadata") else converter)
        for attr, combiner, converter in MailgunPayload.anymail_message_attrs
    )

    def parse_recipients(self, addresses: Any) -> list[EmailAddress]:
        return parse_recipients(addresses)

    def get_request_params(self, api_url: str) -> dict[str, Any]:
        params = super().get_request_params(api_url)
        if params.get("files"):  # attachments: requests' own multipart encoder, as anymail does
            return params
        body, content_type = encode_multipart(params["data"])
        params["data"] = body
        params["files"] = None
        params["headers"] = {**(params.get("headers") or {}), "Content-Type": content_type}
        return params


class MailgunBatchBackend(AnymailMailgunBackend):
    """anymail's Mailgun backend; see the module docstring for the two steps it does differently."""

    def build_message_payload(self, message, defaults):
        return BatchMailgunPayload(message, defaults, self)
