"""A real SMTP server on 127.0.0.1 for tests that check the mail as it leaves over the wire.

The server is aiosmtpd's Controller (its own thread and event loop). Every message it accepts is kept
with its envelope and parsed with the modern email policy, so tests read headers and MIME parts the
way a mail client would. Django's SMTP backend talks to it synchronously: when send() returns, the
server has already answered 250 to DATA, so the message is stored; tests never wait or sleep.
The `smtp_server` fixture points Django's SMTP backend at one for the test.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the server received it: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def header(self, name: str) -> str | None:
        """The unfolded header value. A long header may be folded right after its colon (legal), which
        leaves the parsed value a leading space; that space is not part of the value."""
        value = self.message[name]
        return None if value is None else str(value).strip()

    def body(self, subtype: str) -> str:
        """The text of the plain or html part ("plain" / "html"); AssertionError if there is none."""
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"the message has no text/{subtype} part"
        assert part.get_content_type() == f"text/{subtype}"
        return part.get_content()

    @property
    def text(self) -> str:
        return self.body("plain")

    @property
    def html(self) -> str:
        return self.body("html")


class _Handler:
    def __init__(self) -> None:
        self.received: list[ReceivedMail] = []
        self._lock = threading.Lock()
        # Scripted answers (tests.smtp.SmtpServer.answer): per stage and address, the answers to
        # give in turn before the usual 250.
        self.scripts: dict[tuple[str, str], list[str]] = {}

    def _scripted(self, stage: str, address: str) -> str | None:
        with self._lock:
            answers = self.scripts.get((stage, address))
            return answers.pop(0) if answers else None

    async def handle_MAIL(self, server, session, envelope, address, mail_options) -> str:
        answer = self._scripted("MAIL", "*")
        if answer:
            return answer
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        answer = self._scripted("RCPT", address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls it by this name
        for address in envelope.rcpt_tos:
            answer = self._scripted("DATA", address)
            if answer:
                return answer
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        mail = ReceivedMail(
            mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos), message=message
        )
        with self._lock:
            self.received.append(mail)
        return "250 Message accepted for delivery"


def free_port(host: str = HOST) -> int:
    """A port nobody listens on right now (not every aiosmtpd version accepts port=0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class SmtpServer:
    """A running local SMTP server: start(), read .messages, stop()."""

    def __init__(self, host: str = HOST) -> None:
        self.host = host
        self.port = free_port(host)
        self._handler = _Handler()
        self._controller = Controller(self._handler, hostname=host, port=self.port)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._handler._lock:
            return list(self._handler.received)

    def to(self, address: str) -> list[ReceivedMail]:
        """The messages whose envelope recipients include address (exactly as sent)."""
        return [mail for mail in self.messages if address in mail.rcpt_tos]

    def answer(self, stage: str, address: str, *answers: str) -> None:
        """Give these answers, in turn, at `stage` ("MAIL" with address "*", "RCPT", or "DATA" for a
        message to `address`), then the usual 250 again. E.g. answer("RCPT", a, "450 4.2.0 later")."""
        with self._handler._lock:
            self._handler.scripts[(stage, address)] = list(answers)

    def clear(self) -> None:
        with self._handler._lock:
            self._handler.received.clear()


@pytest.fixture
def smtp_server(settings):
    """A real aiosmtpd server on 127.0.0.1; Django's SMTP backend sends every mail of the test to it.

    Read what arrived from `smtp_server.messages` (tests.smtp.ReceivedMail: envelope + parsed message).
    """
    server = SmtpServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    try:
        yield server
    finally:
        server.stop()
