"""Fake Telegram Bot API, Reddit API and a webhook receiver on 127.0.0.1, for the channel tests.

Each speaks just enough of the real service for the real client code: httpx for Telegram (`POST
/bot<token>/sendMessage`) and Reddit (`POST /api/v1/access_token` with Basic auth and the password
grant, `POST /api/submit/`, `GET /user/<name>/submitted`), any JSON POST for the webhook.

Answers are scripted, one outcome consumed per request (requests refused for bad credentials consume
none), "ok" once the script is empty:

    telegram.script(["ok", ("retry_after", 7), "parse_error", ("migrate", "-1009"), "forbidden",
                     "chat_not_found", "500", "ok_then_500", "ok_then_drop"])
    reddit.script(["ok", "ok_then_500", "500", ("429", "42"), ("ratelimit", "Take a break for 9 minutes"),
                   "ratelimit_with_post", "ratelimit_url_in_message"])
    webhook.script(["ok", ("status", 503, {"Retry-After": "4"})])

"ok_then_…" outcomes record the post (it is in the chat / subreddit) and then answer the error: the
service has it, the client does not know. `posts` lists what each service holds; `requests` every
request. Every answer closes its connection, so stop() never waits on an idle keep-alive.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import html
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HOST = "127.0.0.1"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    outcome: Any = None

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, self.path, dict(self.headers.items()), body)
        self.server.fake._record(request)
        self.close_connection = True
        status, payload, headers = self.server.fake.answer(request)
        if status is None:  # "…_then_drop": the connection closes without a byte of answer
            return
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeService) -> None:
        self.fake = fake
        super().__init__((HOST, 0), _Handler)


class FakeService:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: collections.deque = collections.deque()
        self.requests: list[Request] = []
        self.posts: list[dict] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeService:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def script(self, outcomes) -> None:
        with self._lock:
            self._script.extend(outcomes)

    def _next(self) -> Any:
        with self._lock:
            return self._script.popleft() if self._script else "ok"

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _keep(self, post: dict) -> dict:
        with self._lock:
            self.posts.append(post)
        return post

    def answer(self, request: Request) -> tuple[int, Any, dict | None]:
        raise NotImplementedError


# --- Telegram ----------------------------------------------------------------------------------------

TELEGRAM_TOKEN = "123456:test-token"
_TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)([^<>]*)>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def telegram_visible_text(text: str) -> str:
    """The text Telegram shows for an HTML message; ValueError where Telegram answers "can't parse
    entities": a tag it does not support, a bare < or an & that starts no entity it knows."""
    stack: list[str] = []
    visible, position = [], 0
    for match in _TAG.finditer(text):
        visible.append(text[position : match.start()])
        position = match.end()
        closing, name = match.group(1), match.group(2).lower()
        if name not in _TELEGRAM_TAGS:
            raise ValueError(f'unsupported start tag "{name}"')
        if closing:
            if not stack or stack.pop() != name:
                raise ValueError(f'unmatched end tag "{name}"')
        else:
            stack.append(name)
    visible.append(text[position:])
    if stack:
        raise ValueError(f'unclosed tag "{stack[-1]}"')
    plain = "".join(visible)
    if "<" in plain or ">" in plain:
        raise ValueError("unescaped < or >")
    for ampersand in re.finditer("&", plain):
        if not _ENTITY.match(plain, ampersand.start()):
            raise ValueError("unsupported entity")
    return html.unescape(plain)


class FakeTelegram(FakeService):
    def __init__(self, *, token: str = TELEGRAM_TOKEN, username: str = "mlmw_guide") -> None:
        super().__init__()
        self.token = token
        self.username = username
        self.moved: dict[str, str] = {}  # chat id → the id it migrated to
        self._ids = itertools.count(101)

    def sends(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/sendMessage")]

    def answer(self, request: Request):
        if request.path != f"/bot{self.token}/sendMessage" or request.method != "POST":
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}, None
        payload = request.json()
        chat_id = str(payload.get("chat_id"))
        if chat_id in self.moved:
            return self._migrated(chat_id)
        request.outcome = outcome = self._next()
        kind = outcome[0] if isinstance(outcome, tuple) else outcome
        if kind == "retry_after":
            seconds = outcome[1]
            return (
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {seconds}",
                    "parameters": {"retry_after": seconds},
                },
                {"Retry-After": str(seconds)},
            )
        if kind == "migrate":
            self.moved[chat_id] = outcome[1]
            return self._migrated(chat_id)
        if kind == "forbidden":
            return _telegram_error(403, "Forbidden: bot was kicked from the channel chat")
        if kind == "chat_not_found":
            return _telegram_error(400, "Bad Request: chat not found")
        if kind == "parse_error":
            return _telegram_error(400, "Bad Request: can't parse entities: scripted")
        if kind == "500":
            return _telegram_error(500, "Internal Server Error")
        try:
            visible = telegram_visible_text(payload.get("text", ""))
        except ValueError as error:
            return _telegram_error(400, f"Bad Request: can't parse entities: {error}")
        if len(visible.encode("utf-16-le")) // 2 > 4096:
            return _telegram_error(400, "Bad Request: message is too long")
        message_id = next(self._ids)
        self._keep({"chat_id": chat_id, "message_id": message_id, **payload})
        if kind == "ok_then_500":
            return _telegram_error(502, "Bad Gateway")
        if kind == "ok_then_drop":
            return None, None, None
        chat = {"id": int(chat_id) if chat_id.lstrip("-").isdigit() else 0, "type": "channel"}
        if not chat_id.lstrip("-").isdigit():
            chat["username"] = chat_id.lstrip("@")
        elif self.username:
            chat["username"] = self.username
        result = {"message_id": message_id, "date": int(time.time()), "chat": chat, "text": visible}
        return 200, {"ok": True, "result": result}, None

    def _migrated(self, chat_id: str):
        return (
            400,
            {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: group chat was upgraded to a supergroup chat",
                "parameters": {"migrate_to_chat_id": int(self.moved[chat_id])},
            },
            None,
        )


def _telegram_error(code: int, description: str):
    return code, {"ok": False, "error_code": code, "description": description}, None


# --- Reddit ------------------------------------------------------------------------------------------


@dataclass
class RedditAccount:
    client_id: str = "reddit-client-id"
    client_secret: str = "reddit-client-secret"
    username: str = "mlmw_bot"
    password: str = "reddit-password"
    tokens: set[str] = field(default_factory=set)


class FakeReddit(FakeService):
    def __init__(self, account: RedditAccount | None = None) -> None:
        super().__init__()
        self.account = account or RedditAccount()
        self._ids = itertools.count(1)

    def submits(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith("/api/submit")]

    def listings(self) -> list[Request]:
        return [r for r in self.requests if "/submitted" in r.path]

    def answer(self, request: Request):
        path = urlsplit(request.path).path
        if path == "/api/v1/access_token" and request.method == "POST":
            return self._token(request)
        token = request.headers.get("Authorization", "").removeprefix("bearer ")
        if token not in self.account.tokens:
            return 401, {"message": "Unauthorized", "error": 401}, None
        if path == "/api/submit/" and request.method == "POST":
            return self._submit(request)
        if path == f"/user/{self.account.username}/submitted" and request.method == "GET":
            children = [{"kind": "t3", "data": post} for post in reversed(self.posts)]
            return 200, {"kind": "Listing", "data": {"after": None, "children": children}}, None
        return 404, {"message": "Not Found", "error": 404}, None

    def _token(self, request: Request):
        expected = base64.b64encode(
            f"{self.account.client_id}:{self.account.client_secret}".encode()
        ).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return 401, {"message": "Unauthorized", "error": 401}, None
        form = request.form()
        if (
            form.get("grant_type") != "password"
            or form.get("username") != self.account.username
            or form.get("password") != self.account.password
        ):
            return 200, {"error": "invalid_grant"}, None
        token = f"token-{next(self._ids)}"
        self.account.tokens.add(token)
        return (
            200,
            {"access_token": token, "token_type": "bearer", "expires_in": 86400, "scope": "*"},
            None,
        )

    def _submit(self, request: Request):
        form = request.form()
        request.outcome = outcome = self._next()
        kind = outcome[0] if isinstance(outcome, tuple) else outcome
        if kind == "500":
            return 500, {"message": "Internal Server Error", "error": 500}, None
        if kind == "429":  # Reddit's API rate limit (outside /api/submit's RATELIMIT)
            return 429, {"message": "Too Many Requests", "error": 429}, {"Retry-After": outcome[1]}
        if kind == "ratelimit":
            message = outcome[1] if isinstance(outcome, tuple) else "Take a break for 9 minutes"
            errors = [
                ["RATELIMIT", f"Looks like you've been doing that a lot. {message}", "ratelimit"]
            ]
            return 200, {"json": {"errors": errors}}, None
        if (
            form.get("kind") == "link"
            and form.get("resubmit", "").lower() in {"false", "0", ""}
            and any(
                p["url"] == form.get("url") and p["subreddit"] == form["sr"] for p in self.posts
            )
        ):
            errors = [["ALREADY_SUB", "that link has already been submitted", "url"]]
            return 200, {"json": {"errors": errors}}, None
        post = self._keep(self._make_post(form))
        data = {"url": post["permalink_url"], "id": post["id"], "name": post["name"]}
        if kind == "ok_then_500":
            return 500, {"message": "Internal Server Error", "error": 500}, None
        if kind == "ratelimit_with_post":
            errors = [["RATELIMIT", "Take a break for 3 minutes before trying again.", "ratelimit"]]
            return 200, {"json": {"errors": errors, "data": data}}, None
        if kind == "ratelimit_url_in_message":
            message = f"Take a break for 3 minutes. Your post: {post['permalink_url']}"
            return 200, {"json": {"errors": [["RATELIMIT", message, "ratelimit"]]}}, None
        return 200, {"json": {"errors": [], "data": data}}, None

    def _make_post(self, form: dict[str, str]) -> dict:
        number = next(self._ids)
        post_id = f"p{number:05d}"
        permalink = f"/r/{form['sr']}/comments/{post_id}/release/"
        return {
            "id": post_id,
            "name": f"t3_{post_id}",
            "subreddit": form["sr"],
            "author": self.account.username,
            "title": form.get("title", ""),
            "kind": form.get("kind"),
            "url": form.get("url") or f"https://www.reddit.com{permalink}",
            "selftext": form.get("text", ""),
            "flair_id": form.get("flair_id", ""),
            "flair_text": form.get("flair_text", ""),
            "permalink": permalink,
            "permalink_url": f"https://www.reddit.com{permalink}",
            "created_utc": time.time(),
        }


# --- Webhook receiver --------------------------------------------------------------------------------


class WebhookReceiver(FakeService):
    def answer(self, request: Request):
        request.outcome = outcome = self._next()
        if isinstance(outcome, tuple) and outcome[0] == "status":
            return outcome[1], {"error": "scripted"}, (outcome[2] if len(outcome) > 2 else None)
        self._keep({"path": request.path, "headers": request.headers, "body": request.body})
        return 200, {"received": True}, {"X-Request-Id": f"hook-{len(self.posts)}"}


def verify_signature(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does with X-MLMW-Signature: t=…,v1=…"""
    parts = dict(item.split("=", 1) for item in header.split(","))
    signed = parts["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])
