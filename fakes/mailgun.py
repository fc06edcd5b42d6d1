"""A fake Mailgun messages API on 127.0.0.1, for the tests and the benchmarks (bench/).

It speaks the one call django-anymail's real Mailgun backend makes: `POST /v3/<domain>/messages`
with Basic auth `api:<key>`, a form body (url-encoded; multipart/form-data when there are
attachments), answered `200 {"id": "<…@domain>", "message": "Queued. Thank you."}`. So a test that
points ANYMAIL["MAILGUN_API_URL"] at `FakeMailgun.api_url` runs anymail's own payload building,
HTTP call and response parsing.

Each accepted request is a `Batch`, expanded as Mailgun would deliver it: one `ReceivedMessage` per
`to` address, with `%recipient.NAME%` in subject, text, html, `h:` headers and `v:` variables
replaced from that address's `recipient-variables` entry (that is how anymail's merge_data,
merge_metadata ("v:" keys) and merge_headers ("h:" keys) arrive). A request with several
recipients and no recipient-variables is a *shared* mail (one mail, every address in its To:);
`FakeMailgun.shared_batches` lists them so tests can assert it never happens.

Validation, like Mailgun's, answers 400 {"message": ...}: `from`, `to`, `subject` (unless a stored
template), one of text/html/amp-html/template, at most `max_recipients` (1000) recipients per call,
and `recipient-variables` must be a JSON object with an entry for every `to` address whenever the
message has `%recipient.…%` placeholders (without any, "{}" is anymail's way to ask for separate,
unpersonalised mails: merge_data = {}).

An address can be refused for good, as an ESP refuses an address it will never take:
`esp.refuse("bo@example.org")` answers every request with it among the `to` addresses 400 {"message":
"'to' parameter is not a valid address: bo@example.org"} (naming the address, as some ESPs do), before
the script is consulted; the request is counted as rejected.

Faults are scripted: `esp.script(["ok", ("status", 503), ("hang", 2), ("ok_then_drop",)])`, one
outcome consumed per request (auth failures consume none), "ok" once the queue is empty:

- "ok": validate, accept, answer 200.
- ("status", code): answer that status with a Mailgun-like {"message": ...} body; not accepted.
  ("status", code, headers): a dict of response headers, e.g. {"Retry-After": "2"}.
  ("status", code, body): a str or bytes body, e.g. a permanent 400's text.
  ("status", code, headers, body): both; body may also be a dict/list (sent as JSON).
- ("hang", seconds[, then]): read the request, wait (stop() cuts the wait short, and then nothing
  is answered or accepted), then carry on as `then` (default "ok": the slow ESP did queue it).
- "ok_then_drop" / ("ok_then_drop",): validate, accept and record the batch, then close the
  connection without answering: the ESP has the mail, the client never hears so.
- ("hold"[, then]): read the request and wait until `esp.release()` (stop() ends it as a hang),
  then carry on as `then` (default "ok"): a hang that the test ends when it is ready.

An episode of given length: `esp.outage(120, 429, {"Retry-After": "5"})` answers every request
429 for the next 120 s, before the script (`esp.outage_over` says when it ended).

The events API: `GET /v3/<domain>/events` (filters event, recipient, begin/end, ascending, limit up
to 300, and `user-variables`, a JSON object the events' user variables must match), answered as
Mailgun answers it (tests/data/mailgun_events_accepted.json): {"items": [...], "paging": {"next":
…}}, an `accepted` event per recipient of each accepted request, its `v:` variables resolved for that
recipient; follow `paging.next` until a page has no items. Off with keep_events=False.

`esp.attempts` has every request with its scripted outcome, the status answered and when it
arrived (`received_at`, time.time() once its body was read); `esp.batches` and `esp.messages` only
what was accepted. Everything is thread-safe.

As a process, for the benchmark: bench/fake_esp_server.py.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import email.policy
import http
import itertools
import json
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

HOST = "127.0.0.1"
MAX_RECIPIENTS = 1000  # Mailgun's limit per call, To + Cc + Bcc
QUEUED = "Queued. Thank you."

_PLACEHOLDER = re.compile(r"%recipient\.([^%]+)%")
_MESSAGES_PATH = re.compile(r"/v3/([^/]+)/messages/?")
_EVENTS_PATH = re.compile(r"/v3/([^/]+)/events(?:/([A-Za-z0-9_=-]+))?/?")
EVENTS_PAGE_LIMIT = 300  # Mailgun's largest page
_PLAIN_ADDRESS = re.compile(r"[^\s<>,;:\"()\[\]@]+@[^\s<>,;:\"()\[\]@]+")

Fields = tuple[tuple[str, str], ...]


class Invalid(ValueError):
    """A request Mailgun would refuse with 400; the message is the one the fake answers."""


# --- What was received ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    field: str  # "attachment" or "inline"
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ReceivedMessage:
    """One recipient's copy of an accepted request, personalised as Mailgun would send it."""

    to: str  # the recipient's address (addr-spec)
    to_field: str  # the `to` value as sent, e.g. "Ana <ana@example.com>"
    to_header: str  # the To: the recipient sees (every `to` of the request for a shared mail)
    from_email: str
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str]  # every `h:Name` field, resolved for this recipient
    metadata: dict[str, str]  # every `v:name` field, resolved for this recipient
    tags: tuple[str, ...]
    variables: dict[str, Any]  # this recipient's recipient-variables entry
    message_id: str  # the id answered for the request (anymail gives it to every recipient)
    shared: bool
    unresolved: tuple[str, ...]  # %recipient.X% names that had no value (left in place)

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name, or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True)
class Batch:
    """One accepted POST: the form fields as received and the messages Mailgun would send."""

    number: int  # the request's place among all requests (Attempt.number)
    message_id: str
    domain: str
    fields: Fields
    attachments: tuple[Attachment, ...]
    to: tuple[str, ...]  # addr-specs of the `to` fields, in order
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    recipient_variables: dict[str, dict[str, Any]] | None
    shared: bool  # several recipients and no recipient-variables: one mail every address sees
    messages: tuple[ReceivedMessage, ...]

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.fields if key == name]

    def value(self, name: str) -> str | None:
        return next((value for key, value in self.fields if key == name), None)

    @property
    def recipient_count(self) -> int:
        return len(self.to) + len(self.cc) + len(self.bcc)


@dataclass
class Attempt:
    """One request as it arrived, with its scripted outcome and what was answered."""

    number: int
    domain: str
    outcome: Any  # "ok", ("status", 503), ("hang", 2), ("ok_then_drop",), "unauthorized", ...
    fields: Fields
    status: int | None = None  # HTTP status answered; None while hanging or when dropped
    rejection: str | None = None  # the 400 message when validation refused it
    batch: Batch | None = None  # set when accepted
    received_at: float = field(default_factory=time.time)  # its body read, before any hang
    content_type: str = ""  # the request's Content-Type header

    @property
    def to(self) -> list[str]:
        return [addr for key, value in self.fields if key == "to" for addr in _addresses(value)]

    @property
    def accepted(self) -> bool:
        return self.batch is not None


# --- Parsing and expansion (no server state) --------------------------------------------------------


def parse_form(content_type: str, body: bytes) -> tuple[Fields, tuple[Attachment, ...]]:
    """The (name, value) fields of a url-encoded or multipart/form-data body, and its files.

    requests sends anymail's payload url-encoded, or as multipart/form-data when there are
    attachments. Both parsers are written for speed (a 1000-recipient batch is ~0.5 MB)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return _parse_urlencoded(body), ()
    if kind == "multipart/form-data":
        return _parse_multipart(content_type, body)
    raise Invalid(f"unsupported Content-Type {content_type!r}")


def _parse_urlencoded(body: bytes) -> Fields:
    """As urllib.parse.parse_qsl(keep_blank_values=True), UTF-8 strictly, about 15x faster."""
    fields = []
    for pair in body.split(b"&"):
        if pair:
            key, _, value = pair.partition(b"=")
            fields.append((_unquote_plus(key), _unquote_plus(value)))
    return tuple(fields)


def _unquote_plus(raw: bytes) -> str:
    # Pure-Python percent-decoding costs ~15 ms for a 1000-recipient recipient-variables field.
    # binascii's quoted-printable decoder is C and decodes =XX, so %XX is turned into =XX first.
    # What it would read differently takes the exact urllib path: a bare "=" or a line break in
    # the input, or a broken escape (kept or dropped by a2b_qp, so the length is not the length
    # of exactly one byte per escape). UnicodeDecodeError is a ValueError: answered 400.
    raw = raw.replace(b"+", b" ")
    escapes = raw.count(b"%")
    if not escapes:
        return raw.decode("utf-8")
    if b"=" not in raw and b"\n" not in raw and b"\r" not in raw:
        decoded = binascii.a2b_qp(raw.replace(b"%", b"="))
        if len(decoded) == len(raw) - 2 * escapes:
            return decoded.decode("utf-8")
    return unquote_to_bytes(raw).decode("utf-8")


_DISPOSITION = re.compile(r'form-data; name="([^"\\]*)"(?:; filename="([^"\\]*)")?')


def _html5_unquote(value: str) -> str:  # how urllib3 quotes form-data names and filenames
    return value.replace("%22", '"').replace("%0A", "\n").replace("%0D", "\r")


def _parse_multipart(content_type: str, body: bytes) -> tuple[Fields, tuple[Attachment, ...]]:
    probe = Message()
    probe["Content-Type"] = content_type
    boundary = probe.get_boundary()
    if not boundary:
        raise Invalid("multipart/form-data without a boundary")
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        raise Invalid("malformed multipart/form-data body (no closing boundary)")
    fields: list[tuple[str, str]] = []
    files: list[Attachment] = []
    for chunk in chunks[1:-1]:
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise Invalid("malformed multipart/form-data part (no blank line after its headers)")
        name, filename, part_type = _part_headers(head.decode("utf-8").strip())
        if filename is None:
            fields.append((name, content.decode("utf-8")))
        else:
            files.append(Attachment(name, filename, part_type, content))
    return tuple(fields), tuple(files)


def _part_headers(head: str) -> tuple[str, str | None, str]:
    """(name, filename or None, content type) of one part's header block."""
    lines = head.split("\r\n")
    match = _DISPOSITION.fullmatch(lines[0].removeprefix("Content-Disposition: "))
    others = [line for line in lines[1:] if not line.startswith("Content-Type: ")]
    if lines[0].startswith("Content-Disposition: ") and match and not others:
        part_type = next((line[14:] for line in lines[1:]), "text/plain")
        filename = None if match[2] is None else _html5_unquote(match[2])
        return _html5_unquote(match[1]), filename, part_type.split(";", 1)[0].strip().lower()
    # Not the way requests writes it: let the email package read the headers.
    headers = HeaderParser(policy=email.policy.compat32).parsestr(head + "\r\n\r\n")
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str):
        raise Invalid("multipart/form-data part without a name")
    filename = headers.get_filename()
    filename = None if filename is None else _html5_unquote(filename)
    return _html5_unquote(name), filename, headers.get_content_type()


def _addresses(value: str) -> list[str]:
    """The addr-specs in one address field ("a@x", "Ana <a@x>", or a comma-separated list)."""
    value = value.strip()
    if '"' not in value and "," not in value:  # the common shapes, without the email package
        if "<" not in value:
            if _PLAIN_ADDRESS.fullmatch(value):
                return [value]
        elif value.endswith(">") and value.count("<") == 1:
            addr = value[value.index("<") + 1 : -1]
            if _PLAIN_ADDRESS.fullmatch(addr):
                return [addr]
    found = [addr for _name, addr in getaddresses([value]) if addr]
    if not found or any(not _PLAIN_ADDRESS.fullmatch(addr) for addr in found):
        raise Invalid(f"'{value}' parameter is not a valid address. please check documentation")
    return found


def _address_fields(fields: Fields, name: str) -> list[tuple[str, str]]:
    """(field value, addr-spec) for every address of every `name` field."""
    return [(value, addr) for key, value in fields if key == name for addr in _addresses(value)]


@dataclass(frozen=True)
class _Checked:
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    bcc: list[tuple[str, str]]
    recipient_variables: dict[str, dict[str, Any]] | None
    shared: bool


def check(fields: Fields, *, max_recipients: int = MAX_RECIPIENTS) -> _Checked:
    """Validate a messages request as Mailgun would; raise Invalid with Mailgun's kind of message."""
    names = {key for key, _value in fields}
    if "from" not in names:
        raise Invalid("from parameter is missing")
    if "to" not in names:
        raise Invalid("to parameter is missing")
    if "subject" not in names and "template" not in names:
        raise Invalid("subject parameter is missing")
    if not names & {"text", "html", "amp-html", "template"}:
        raise Invalid(
            "Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified"
        )
    to = _address_fields(fields, "to")
    cc = _address_fields(fields, "cc")
    bcc = _address_fields(fields, "bcc")
    total = len(to) + len(cc) + len(bcc)
    if total > max_recipients:
        raise Invalid(f"Too many recipients: {total} (at most {max_recipients} per message)")
    raw = [value for key, value in fields if key == "recipient-variables"]
    variables = None
    if raw:
        if len(raw) > 1:
            raise Invalid("recipient-variables parameter given more than once")
        try:
            variables = json.loads(raw[0])
        except ValueError as error:
            raise Invalid(f"recipient-variables parameter is not valid JSON: {error}") from None
        if not isinstance(variables, dict) or not all(
            isinstance(entry, dict) for entry in variables.values()
        ):
            raise Invalid("recipient-variables must be a JSON object of objects, one per address")
        missing = [addr for _value, addr in to if addr not in variables]
        # recipient-variables "{}" (anymail's merge_data = {}) is how to ask for separate,
        # unpersonalised mails; an address without variables is a bug once there are placeholders.
        if missing and any(
            "%recipient." in value for key, value in fields if key != "recipient-variables"
        ):
            raise Invalid(
                f"recipient-variables has no entry for {len(missing)} 'to' address(es),"
                f" e.g. {missing[0]!r}"
            )
    return _Checked(to, cc, bcc, variables, shared=variables is None and total > 1)


def _render(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def expand(
    number: int,
    domain: str,
    fields: Fields,
    attachments: tuple[Attachment, ...],
    message_id: str,
    checked: _Checked | None = None,
) -> Batch:
    """The Batch of an accepted request: one personalised ReceivedMessage per `to` address."""
    if checked is None:
        checked = check(fields, max_recipients=sys.maxsize)
    values: dict[str, list[str]] = collections.defaultdict(list)
    for key, value in fields:
        values[key].append(value)
    first = {key: found[0] for key, found in values.items()}
    header_fields = [(key[2:], value) for key, value in fields if key.startswith("h:")]
    meta_fields = [(key[2:], value) for key, value in fields if key.startswith("v:")]
    shared_to = ", ".join(value for value, _addr in checked.to)
    messages = []
    for to_field, addr in checked.to:
        variables = (checked.recipient_variables or {}).get(addr, {})
        unresolved: list[str] = []

        def fill(text: str | None, variables=variables, unresolved=unresolved) -> str | None:
            if text is None or "%recipient." not in text:
                return text

            def one(match: re.Match) -> str:
                name = match[1]
                if name in variables:
                    return _render(variables[name])
                unresolved.append(name)
                return match[0]

            return _PLACEHOLDER.sub(one, text)

        messages.append(
            ReceivedMessage(
                to=addr,
                to_field=to_field,
                to_header=shared_to if checked.shared else to_field,
                from_email=", ".join(values["from"]),
                subject=fill(first.get("subject", "")) or "",
                text=fill(first.get("text")),
                html=fill(first.get("html")),
                headers={name: fill(value) or "" for name, value in header_fields},
                metadata={name: fill(value) or "" for name, value in meta_fields},
                tags=tuple(values["o:tag"]),
                variables=dict(variables),
                message_id=message_id,
                shared=checked.shared,
                unresolved=tuple(dict.fromkeys(unresolved)),
            )
        )
    return Batch(
        number=number,
        message_id=message_id,
        domain=domain,
        fields=fields,
        attachments=attachments,
        to=tuple(addr for _value, addr in checked.to),
        cc=tuple(addr for _value, addr in checked.cc),
        bcc=tuple(addr for _value, addr in checked.bcc),
        recipient_variables=checked.recipient_variables,
        shared=checked.shared,
        messages=tuple(messages),
    )


def read_record_dir(path: str | Path) -> list[Batch]:
    """The batches a `--record-dir` fake appended to DIR/batches.jsonl, expanded again."""
    batches = []
    file = Path(path) / "batches.jsonl"
    if not file.exists():
        return batches
    with file.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            fields = tuple((key, value) for key, value in row["fields"])
            batches.append(expand(row["number"], row["domain"], fields, (), row["id"]))
    return batches


# --- Scripted outcomes ------------------------------------------------------------------------------


def _normalise(outcome: Any) -> tuple:
    """("ok",) / ("status", code, headers, body) / ("hang", seconds, then) / ("ok_then_drop",)."""
    if isinstance(outcome, str):
        outcome = (outcome,)
    if not isinstance(outcome, tuple) or not outcome:
        raise ValueError(f"unknown scripted outcome {outcome!r}")
    kind, *rest = outcome
    if kind in ("ok", "ok_then_drop") and not rest:
        return (kind,)
    if kind == "status" and 1 <= len(rest) <= 3 and isinstance(rest[0], int):
        code, headers, body = rest[0], {}, None
        if len(rest) == 2:
            if isinstance(rest[1], Mapping):
                headers = dict(rest[1])
            elif isinstance(rest[1], str | bytes):
                body = rest[1]
            else:
                raise ValueError(
                    f"('status', code, x): x must be headers (dict) or a body (str): {outcome!r}"
                )
        elif len(rest) == 3:
            headers, body = dict(rest[1] or {}), rest[2]
        if not 100 <= code <= 599:
            raise ValueError(f"not an HTTP status: {code}")
        return ("status", code, headers, body)
    if kind == "hang" and 1 <= len(rest) <= 2 and isinstance(rest[0], int | float):
        then = _normalise(rest[1]) if len(rest) == 2 else ("ok",)
        return ("hang", float(rest[0]), then)
    if kind == "hold" and len(rest) <= 1:
        return ("hold", _normalise(rest[0]) if rest else ("ok",))
    raise ValueError(f"unknown scripted outcome {outcome!r}")


def _public(outcome: tuple) -> Any:
    """A normalised outcome as a test would have written it."""
    if outcome[0] == "ok":
        return "ok"
    if outcome[0] == "status":
        _kind, code, headers, body = outcome
        if body is None:
            return ("status", code, headers) if headers else ("status", code)
        if not headers and isinstance(body, str | bytes):
            return ("status", code, body)
        return ("status", code, headers, body)
    if outcome[0] == "hang":
        then = _public(outcome[2])
        return ("hang", outcome[1], *((then,) if then != "ok" else ()))
    if outcome[0] == "hold":
        then = _public(outcome[1])
        return ("hold", *((then,) if then != "ok" else ()))
    return outcome


# --- The events API (GET /v3/<domain>/events) ------------------------------------------------------


def _events_query(raw: str) -> dict[str, Any]:
    """The filters of a first events request: event, recipient, user-variables (a JSON object: the
    events whose user variables have all these values), begin/end (epoch seconds), ascending,
    limit (at most 300)."""
    from urllib.parse import parse_qsl

    params = dict(parse_qsl(raw, keep_blank_values=True))
    query: dict[str, Any] = {"offset": 0}
    limit = int(params.get("limit", "100"))
    if not 1 <= limit <= EVENTS_PAGE_LIMIT:
        raise ValueError(f"limit must be between 1 and {EVENTS_PAGE_LIMIT}")
    query["limit"] = limit
    for name in ("event", "recipient", "ascending"):
        if name in params:
            query[name] = params[name]
    for name in ("begin", "end"):
        if name in params:
            query[name] = float(params[name])
    if "user-variables" in params:
        variables = json.loads(params["user-variables"])
        if not isinstance(variables, dict):
            raise ValueError("user-variables must be a JSON object")
        query["user-variables"] = {k: str(v) for k, v in variables.items()}
    return query


def _page_token(query: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(query).encode()).decode()


def _page_query(token: str) -> dict[str, Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        raise ValueError("unknown page") from None


def _event_matches(event: dict[str, Any], query: dict[str, Any]) -> bool:
    if "event" in query and event["event"] != query["event"]:
        return False
    if "recipient" in query and event["recipient"].lower() != query["recipient"].lower():
        return False
    if "begin" in query and event["timestamp"] < query["begin"]:
        return False
    if "end" in query and event["timestamp"] > query["end"]:
        return False
    wanted = query.get("user-variables", {})
    return all(event["user-variables"].get(k) == v for k, v in wanted.items())


# --- The server -------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' Session uses it
    server_version = "FakeMailgun/1.0"
    # Answer at once: with Nagle on, each response waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    sys_version = ""
    timeout = 60  # an idle keep-alive connection is closed after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection and not self.server.esp._stopping.is_set():
            self.handle_one_request()

    def do_POST(self) -> None:
        self.server.esp._serve_post(self)

    def do_GET(self) -> None:
        self.server.esp._serve_get(self)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read esp.attempts
        pass

    def answer(
        self,
        status: int,
        body: bytes | str | dict | list,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(body, dict | list):
            body, content_type = json.dumps(body).encode(), content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
        if content_type is None:
            try:
                json.loads(body)
                content_type = "application/json"
            except ValueError:
                content_type = "text/plain; charset=utf-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client gave up (its timeout) before the answer
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a fake nobody stopped never holds the interpreter open

    def __init__(self, address: tuple[str, int], esp: FakeMailgun) -> None:
        self.esp = esp
        self._connections: set[socket.socket] = set()
        self._handlers: list[threading.Thread] = []
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self._connections_lock:
            self._handlers = [handler for handler in self._handlers if handler.is_alive()]
            self._handlers.append(thread)
        thread.start()

    def join_handlers(self, timeout: float) -> None:
        """stop() waits for every handler thread (socketserver would join only non-daemon ones)."""
        with self._connections_lock:
            handlers = list(self._handlers)
        deadline = time.monotonic() + timeout
        for handler in handlers:
            handler.join(max(0.0, deadline - time.monotonic()))

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)
        if self.esp._stopping.is_set():  # stop() may have taken its snapshot already
            _shutdown(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def cut_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            _shutdown(connection)

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that went away, or stop() cutting a connection
        super().handle_error(request, client_address)


def _shutdown(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class FakeMailgun:
    """A fake Mailgun messages API on 127.0.0.1 (a daemon thread); see the module docstring.

    with FakeMailgun() as esp:            # or esp = FakeMailgun().start(); ...; esp.stop()
        settings.ANYMAIL = {..., "MAILGUN_API_URL": esp.api_url, "MAILGUN_API_KEY": esp.api_key}
        esp.script([("status", 503)])     # optional faults, one per request
        ... send ...
        esp.batches, esp.messages, esp.messages_to("ana@example.com"), esp.attempts, esp.stats
    """

    def __init__(
        self,
        *,
        api_key: str | None = "key-test",
        domains: Iterable[str] | None = None,
        host: str = HOST,
        port: int = 0,
        count_only: bool = False,
        record_dir: str | Path | None = None,
        latency: float = 0.0,
        max_recipients: int = MAX_RECIPIENTS,
        keep_events: bool = True,
    ) -> None:
        """api_key None accepts any key (the user must still be "api"); domains None accepts any
        sender domain (others get Mailgun's 404 "Domain not found"); latency: seconds to wait
        before answering an accepted request, as a real ESP takes; count_only: keep counters only."""
        self.api_key = api_key
        self.domains = None if domains is None else set(domains)
        self.host = host
        self.port = port
        self.count_only = count_only
        self.record_dir = None if record_dir is None else Path(record_dir)
        self.latency = latency
        self.max_recipients = max_recipients
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._released = threading.Event()  # set by release(): held requests carry on
        self._script: collections.deque[tuple] = collections.deque()
        self._refused: set[str] = set()
        self._outage: tuple[float, tuple] | None = None  # (monotonic end, outcome)
        self.keep_events = keep_events
        self._events: list[dict[str, Any]] = []  # "accepted" events, for GET /events
        self._attempts: list[Attempt] = []
        self._batches: list[Batch] = []
        self._counter = itertools.count(1)
        self._stats = collections.Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._record_files: dict[str, Any] = {}

    # --- lifecycle

    def start(self) -> FakeMailgun:
        if self._server is not None:
            raise RuntimeError("FakeMailgun is already running")
        self._stopping.clear()
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
            for name in ("batches", "attempts"):
                self._record_files[name] = (self.record_dir / f"{name}.jsonl").open(
                    "a", encoding="utf-8"
                )
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"FakeMailgun:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: cuts hangs short, closes open connections, joins every thread."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.cut_connections()
        server.server_close()
        server.join_handlers(timeout=10)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for file in self._record_files.values():
            file.close()
        self._record_files.clear()

    def __enter__(self) -> FakeMailgun:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """The value for ANYMAIL["MAILGUN_API_URL"], e.g. http://127.0.0.1:PORT/v3."""
        return f"http://{self.host}:{self.port}/v3"

    # --- scripting

    def script(self, outcomes: Iterable[Any]) -> None:
        """Queue answers, one consumed per authorised request ("ok" once the queue is empty)."""
        normalised = [_normalise(outcome) for outcome in outcomes]
        with self._lock:
            self._script.extend(normalised)

    def outage(self, seconds: float, status: int, headers: Mapping[str, str] | None = None) -> None:
        """Answer every authorised request `status` (with `headers`, e.g. {"Retry-After": "5"}) for
        the next `seconds`, before the script is consulted: an ESP outage or rate-limit episode of a
        given length, however often the workers ask. The requests are attempts, not accepted."""
        with self._lock:
            self._outage = (
                time.monotonic() + seconds,
                _normalise(("status", status, headers or {})),
            )

    @property
    def outage_over(self) -> bool:
        with self._lock:
            return self._outage is None or time.monotonic() >= self._outage[0]

    def refuse(self, *addresses: str) -> None:
        """Refuse every request to any of these addresses from now on (400, see the module docstring)."""
        with self._lock:
            self._refused.update(address.lower() for address in addresses)

    def release(self) -> None:
        """Let every request held by a ("hold", …) outcome carry on; later holds do not wait."""
        self._released.set()

    @property
    def pending_script(self) -> list[Any]:
        with self._lock:
            return [_public(outcome) for outcome in self._script]

    def reset(self) -> None:
        """Forget everything received, the counters and any queued outcomes."""
        with self._lock:
            self._script.clear()
            self._outage = None
            self._released.clear()
            self._attempts.clear()
            self._batches.clear()
            self._events.clear()
            self._stats.clear()

    # --- what was received

    @property
    def attempts(self) -> list[Attempt]:
        """Every request, accepted or not, in arrival order (empty in count-only mode)."""
        with self._lock:
            return list(self._attempts)

    @property
    def batches(self) -> list[Batch]:
        """The accepted requests, in the order they were accepted."""
        with self._lock:
            return list(self._batches)

    @property
    def messages(self) -> list[ReceivedMessage]:
        """One per recipient of every accepted request."""
        return [message for batch in self.batches for message in batch.messages]

    @property
    def events(self) -> list[dict[str, Any]]:
        """The `accepted` events GET /events serves, one per recipient of each accepted request
        (kept in count-only mode too, unless keep_events=False)."""
        with self._lock:
            return [{k: v for k, v in event.items() if k != "_domain"} for event in self._events]

    def recipients(self) -> list[str]:
        """The address of every message, duplicates included, in order."""
        return [message.to for message in self.messages]

    def messages_to(self, address: str) -> list[ReceivedMessage]:
        """The messages for this address (compared case-insensitively)."""
        wanted = address.lower()
        return [message for message in self.messages if message.to.lower() == wanted]

    def duplicate_recipients(self) -> dict[str, int]:
        """Addresses that received more than one message since start/reset, with their counts."""
        counts = collections.Counter(address.lower() for address in self.recipients())
        return {address: count for address, count in counts.items() if count > 1}

    @property
    def shared_batches(self) -> list[Batch]:
        """Accepted requests that were one mail to several people (no recipient-variables)."""
        return [batch for batch in self.batches if batch.shared]

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: requests, accepted, recipients (of accepted requests), rejected (400 by
        validation), faults (scripted non-ok answers), dropped, unauthorized, unknown_domain,
        shared, bytes, and handling_ms_total/handling_ms_max (server time per request from the end
        of the body read: parse, validate, record; hangs and latency excluded)."""
        with self._lock:
            stats = {
                key: self._stats.get(key, 0)
                for key in (
                    "requests", "accepted", "recipients", "rejected", "faults", "dropped",
                    "unauthorized", "unknown_domain", "shared", "bytes",
                )
            }  # fmt: skip
            stats["handling_ms_total"] = round(self._stats.get("handling_ns", 0) / 1e6, 3)
            stats["handling_ms_max"] = round(self._stats.get("handling_ns_max", 0) / 1e6, 3)
        return stats

    # --- serving

    def _serve_get(self, h: _Handler) -> None:
        url = urlsplit(h.path)
        if url.path == "/stats":
            h.answer(200, self.stats)
            return
        match = _EVENTS_PATH.fullmatch(url.path)
        if match is None:
            h.answer(404, {"message": "Not Found"})
        elif not self._authorised(h.headers.get("Authorization")):
            h.answer(401, "Forbidden")
        else:
            domain = unquote(match[1])
            try:
                query = _page_query(match[2]) if match[2] else _events_query(url.query)
            except ValueError as error:
                h.answer(400, {"message": str(error)})
                return
            h.answer(200, self._events_page(domain, query))

    def _events_page(self, domain: str, query: dict[str, Any]) -> dict[str, Any]:
        """One page of Mailgun's GET /v3/<domain>/events: the matching events from `offset`, and
        paging URLs; the page after the last is empty (that is how a client knows it is done)."""
        with self._lock:
            events = [event for event in self._events if event["_domain"] == domain]
        wanted = [event for event in events if _event_matches(event, query)]
        if query.get("ascending") == "no":
            wanted.reverse()
        offset, limit = query["offset"], query["limit"]
        page = [
            {k: v for k, v in event.items() if k != "_domain"}
            for event in wanted[offset : offset + limit]
        ]
        base = f"{self.api_url}/{domain}/events/"
        return {
            "items": page,
            "paging": {
                "next": base + _page_token({**query, "offset": offset + len(page)}),
                "previous": base + _page_token({**query, "offset": max(0, offset - limit)}),
                "first": base + _page_token({**query, "offset": 0}),
                "last": base + _page_token({**query, "offset": max(0, len(wanted) - limit)}),
            },
        }

    def _record_events(self, attempt: Attempt, checked: _Checked, message_id: str) -> None:
        """Mailgun's `accepted` event of each recipient of an accepted request, with its user
        variables resolved for that recipient (how merge_metadata arrives), for GET /events."""
        if not self.keep_events:
            return
        now = time.time()
        fields = dict(attempt.fields)
        custom = [(key[2:], value) for key, value in attempt.fields if key.startswith("v:")]
        tags = [value for key, value in attempt.fields if key == "o:tag"]
        events = []
        for to_field, addr in checked.to:
            variables = (checked.recipient_variables or {}).get(addr, {})

            def fill(value: str, variables=variables) -> str:
                return _PLACEHOLDER.sub(lambda m: _render(variables.get(m[1], m[0])), value)

            events.append(
                {
                    "_domain": attempt.domain,
                    "event": "accepted",
                    "id": secrets.token_urlsafe(16),
                    "timestamp": now,
                    "log-level": "info",
                    "method": "HTTP",
                    "recipient": addr,
                    "recipient-domain": addr.rpartition("@")[2],
                    "tags": tags,
                    "user-variables": {name: fill(value) for name, value in custom},
                    "envelope": {"sender": fields.get("from", ""), "targets": addr},
                    "message": {
                        "headers": {
                            "to": to_field,
                            "message-id": message_id.strip("<>"),
                            "from": fields.get("from", ""),
                            "subject": fill(fields.get("subject", "")),
                        },
                        "attachments": [],
                        "size": len(fields.get("text", "")) + len(fields.get("html", "")),
                    },
                    "flags": {"is-authenticated": True, "is-test-mode": False},
                }
            )
        with self._lock:
            self._events.extend(events)

    def _serve_post(self, h: _Handler) -> None:
        length = h.headers.get("Content-Length")
        if length is None or not length.isdigit():
            h.close_connection = True
            h.answer(411, {"message": "Content-Length required"})
            return
        body = h.rfile.read(int(length))
        started = time.perf_counter_ns()  # handling time: parse, validate, record (not the read)
        path = urlsplit(h.path).path
        match = _MESSAGES_PATH.fullmatch(path)
        if match is None:
            # What Mailgun answers to an endpoint it does not know (anymail turns it into an error).
            h.answer(200, "Mailgun Magnificent API", "text/plain")
            return
        domain = unquote(match[1])
        if not self._authorised(h.headers.get("Authorization")):
            self._refuse(h, domain, len(body), "unauthorized", 401, "Forbidden")
        elif self.domains is not None and domain not in self.domains:
            self._refuse(h, domain, len(body), "unknown_domain", 404, f"Domain not found: {domain}")
        else:
            try:
                fields, attachments = parse_form(h.headers.get("Content-Type", ""), body)
            except ValueError as error:
                fields, attachments, parse_error = (), (), str(error)
            else:
                parse_error = None
            if refused := self._refused_among(fields):
                message = f"'to' parameter is not a valid address: {refused}"
                self._refuse(h, domain, len(body), "rejected", 400, message, fields)
                return
            with self._lock:
                if self._outage is not None and time.monotonic() < self._outage[0]:
                    outcome = self._outage[1]
                else:
                    outcome = self._script.popleft() if self._script else ("ok",)
            attempt = self._new_attempt(
                domain, _public(outcome), fields, len(body), h.headers.get("Content-Type", "")
            )
            self._carry_out(h, outcome, attempt, attachments, parse_error, started)

    def _refused_among(self, fields: Fields) -> str | None:
        """The first `to` address that refuse() named, if any."""
        with self._lock:
            if not self._refused:
                return None
            return next(
                (addr for _value, addr in _address_fields(fields, "to")
                 if addr.lower() in self._refused),
                None,
            )  # fmt: skip

    def _refuse(
        self,
        h: _Handler,
        domain: str,
        size: int,
        outcome: str,
        status: int,
        message: str,
        fields: Fields = (),
    ) -> None:
        """A request turned away before the script is consulted (it consumes no scripted answer)."""
        attempt = self._new_attempt(domain, outcome, fields, size)
        attempt.status = status
        attempt.rejection = message if status == 400 else None
        self._count(**{outcome: 1})
        self._log_attempt(attempt)
        h.answer(status, message if status == 401 else {"message": message})

    def _carry_out(
        self,
        h: _Handler,
        outcome: tuple,
        attempt: Attempt,
        attachments: tuple[Attachment, ...],
        parse_error: str | None,
        started: int,
    ) -> None:
        kind = outcome[0]
        if kind == "hold":
            while not self._released.wait(0.01):
                if self._stopping.is_set():
                    h.close_connection = True  # stopped while held: no answer
                    return
            self._carry_out(
                h, outcome[1], attempt, attachments, parse_error, time.perf_counter_ns()
            )
            return
        if kind != "hang" and self.latency and self._stopping.wait(self.latency):
            h.close_connection = True  # stopped while waiting: no answer
            return
        if kind == "hang":
            if self._stopping.wait(outcome[1]):
                h.close_connection = True  # stopped while hanging: no answer
                return
            self._carry_out(
                h, outcome[2], attempt, attachments, parse_error, time.perf_counter_ns()
            )
            return
        if kind == "status":
            _kind, code, headers, body = outcome
            if body is None:
                body = {"message": http.HTTPStatus(code).phrase}
            self._count(faults=1)
            attempt.status = code
            self._log_attempt(attempt)
            self._timed(started)
            h.answer(code, body, headers=headers)
            return
        try:
            if parse_error is not None:
                raise Invalid(parse_error)
            checked = check(attempt.fields, max_recipients=self.max_recipients)
        except Invalid as error:
            attempt.rejection, attempt.status = str(error), 400
            self._count(rejected=1)
            self._log_attempt(attempt)
            self._timed(started)
            h.answer(400, {"message": str(error)})
            return
        message_id = self._message_id(attempt)
        self._accept(attempt, checked, attachments, message_id)
        self._record_events(attempt, checked, message_id)
        self._timed(started)
        if kind == "ok_then_drop":
            self._count(dropped=1)
            self._log_attempt(attempt)
            h.close_connection = True  # the socket is closed without a byte of answer
            return
        attempt.status = 200
        self._log_attempt(attempt)
        h.answer(200, {"id": message_id, "message": QUEUED})

    def _accept(
        self,
        attempt: Attempt,
        checked: _Checked,
        attachments: tuple[Attachment, ...],
        message_id: str,
    ) -> None:
        recipients = len(checked.to) + len(checked.cc) + len(checked.bcc)
        self._count(accepted=1, recipients=recipients, shared=int(checked.shared))
        if self.record_dir is not None:
            row = {
                "number": attempt.number,
                "id": message_id,
                "domain": attempt.domain,
                "fields": attempt.fields,
                "attachments": [
                    [a.field, a.filename, a.content_type, len(a.content)] for a in attachments
                ],
            }
            self._write("batches", row)
        if self.count_only:
            return
        batch = expand(
            attempt.number, attempt.domain, attempt.fields, attachments, message_id, checked
        )
        with self._lock:
            attempt.batch = batch
            self._batches.append(batch)

    def _message_id(self, attempt: Attempt) -> str:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        return f"<{stamp}.{attempt.number}.{secrets.token_hex(6)}@{attempt.domain}>"

    def _authorised(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(authorization[6:], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, key = decoded.partition(":")
        return user == "api" and (self.api_key is None or key == self.api_key)

    def _count(self, **increments: int) -> None:
        with self._lock:
            self._stats.update(increments)

    def _timed(self, started: int) -> None:
        elapsed = time.perf_counter_ns() - started
        with self._lock:
            self._stats["handling_ns"] += elapsed
            self._stats["handling_ns_max"] = max(self._stats["handling_ns_max"], elapsed)

    def _new_attempt(
        self, domain: str, outcome: Any, fields: Fields, size: int, content_type: str = ""
    ) -> Attempt:
        with self._lock:
            attempt = Attempt(
                next(self._counter), domain, outcome, fields, content_type=content_type
            )
            self._stats["requests"] += 1
            self._stats["bytes"] += size
            if not self.count_only:
                self._attempts.append(attempt)
        return attempt

    def _log_attempt(self, attempt: Attempt) -> None:
        if self.record_dir is None:
            return
        row = {
            "number": attempt.number,
            "domain": attempt.domain,
            "outcome": attempt.outcome,
            "status": attempt.status,
            "rejection": attempt.rejection,
            "recipients": sum(1 for key, _value in attempt.fields if key in ("to", "cc", "bcc")),
        }
        self._write("attempts", row)

    def _write(self, name: str, row: dict) -> None:
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with self._lock:
            file = self._record_files.get(name)
            if file is not None:
                file.write(line)
                file.flush()
