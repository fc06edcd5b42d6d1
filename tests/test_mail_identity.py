"""Every mail says what kind it is to the ESP and to mailbox providers: the kind as the ESP's tag and
in Feedback-ID; release mail in Postmark's broadcast stream, everything else in the transactional one;
replies to release and access mails go to REPLY_TO; over SMTP, the Message-ID names the From domain.

Postmark through anymail's real backend, against a small Postmark API on 127.0.0.1 that records each
JSON payload; SMTP through Django's backend to a real SMTP server.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from guide import publishing
from subscriptions.models import Subscriber
from tests.conftest import make_artifact
from tests.mails import mailed_path

ADDRESS = "ann@example.org"


class FakePostmark:
    """POST /email: records the payload, answers as Postmark does when it accepts a message."""

    def __init__(self) -> None:
        self.payloads: list[dict] = []
        payloads = self.payloads

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                payloads.append(payload)
                answer = {
                    "To": payload["To"],
                    "SubmittedAt": "2026-12-02T20:00:00Z",
                    "MessageID": str(uuid.uuid4()),
                    "ErrorCode": 0,
                    "Message": "OK",
                }
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def to(self, address: str) -> list[dict]:
        return [p for p in self.payloads if p["To"] == address]


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def postmark(settings):
    fake = FakePostmark()
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "POSTMARK_SERVER_TOKEN": "server-token-tests-only",
        "POSTMARK_API_URL": fake.url,
    }
    settings.REPLY_TO = "editors@mlmw.org"
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def headers(payload: dict) -> dict[str, str]:
    return {h["Name"]: h["Value"] for h in payload.get("Headers", [])}


def test_the_confirmation_goes_in_the_transactional_stream_tagged_with_its_kind(
    guide, postmark, post_committed
):
    post_committed(Client(), "/subscribe/", {"email": ADDRESS})

    [confirmation] = postmark.to(ADDRESS)
    assert confirmation["MessageStream"] == "outbound"
    assert confirmation["Tag"] == "confirm"
    assert headers(confirmation)["Feedback-ID"] == "confirm:mlmw"
    assert "ReplyTo" not in confirmation  # nobody reads answers to a confirmation


def test_release_mail_goes_in_the_broadcast_stream_with_its_kind_and_reply_to(
    draft, postmark, post_committed, django_capture_on_commit_callbacks
):
    client = Client()
    post_committed(client, "/subscribe/", {"email": ADDRESS})
    post_committed(client, mailed_path(postmark.to(ADDRESS)[0]["TextBody"], "/confirm/"))
    assert Subscriber.objects.get().status == "confirmed"

    with django_capture_on_commit_callbacks(execute=True):
        publishing.publish(draft)

    release = postmark.to(ADDRESS)[-1]
    assert draft.number in release["Subject"]
    assert release["MessageStream"] == "broadcast"
    assert release["Tag"] == "release"
    assert release["ReplyTo"] == "editors@mlmw.org"
    assert headers(release)["Feedback-ID"] == "release:mlmw"


def test_access_mails_send_replies_to_the_editors(guide, media_root, post_committed, postmark):
    artifact = make_artifact(guide)

    post_committed(Client(), artifact.get_request_url(), {"email": ADDRESS})

    [verify] = postmark.to(ADDRESS)
    assert verify["ReplyTo"] == "editors@mlmw.org"
    assert verify["Tag"] == "access_verify"
    assert verify["MessageStream"] == "outbound"


def test_over_smtp_the_message_id_is_on_the_from_domain(guide, smtp_server, post_committed):
    post_committed(Client(), "/subscribe/", {"email": ADDRESS})

    [mail] = smtp_server.messages
    assert mail.header("Message-ID").endswith("@mlmw.example>")  # DEFAULT_FROM_EMAIL's domain
    assert mail.header("Feedback-ID") == "confirm:mlmw"
