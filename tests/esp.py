"""The fake Mailgun in the tests: where workers and this process send, and a release batch to send.

`fake_esp` is for worker processes (start_worker(**esp_worker_env(fake_esp))); `mailgun_here` for
mail this process sends itself (eager tasks). Both run anymail's real Mailgun backend over HTTP.
"""

from __future__ import annotations

import pytest
from django.core.mail import EmailMultiAlternatives

from fakes.mailgun import FakeMailgun
from tests.services import wait_for

DOMAIN = "mg.example"
SENDER = "MLMW guide <updates@mlmw.example>"
READERS = {
    "ana@example.com": ("Ana", "https://mlmw.example/unsubscribe/ana-token/", 101),
    "bo@example.org": ("Bo", "https://mlmw.example/unsubscribe/bo-token/", 102),
    "cy@example.net": ("Cy", "https://mlmw.example/unsubscribe/cy-token/", 103),
}


def use_mailgun(settings, api_url: str, **anymail) -> None:
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "MAILGUN_API_KEY": "key-test",
        "MAILGUN_SENDER_DOMAIN": DOMAIN,
        "MAILGUN_API_URL": api_url,
        **anymail,
    }


def release_batch(readers=READERS) -> EmailMultiAlternatives:
    """One release mail for several readers, personalised the way the fan-out does it."""
    message = EmailMultiAlternatives(
        subject="MLMW 0.10.1 for %recipient.name%",
        body="Hello %recipient.name%.\nUnsubscribe: %recipient.unsubscribe_url%\n",
        from_email=SENDER,
        to=list(readers),
    )
    message.attach_alternative(
        '<p>Hello %recipient.name%.</p><a href="%recipient.unsubscribe_url%">Unsubscribe</a>',
        "text/html",
    )
    message.merge_data = {
        address: {"name": name, "unsubscribe_url": url}
        for address, (name, url, _delivery) in readers.items()
    }
    message.merge_headers = {
        address: {
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        for address, (_name, url, _delivery) in readers.items()
    }
    message.merge_metadata = {
        address: {"delivery_id": delivery} for address, (_n, _u, delivery) in readers.items()
    }
    message.tags = ["release"]
    return message


@pytest.fixture
def fake_esp():
    """A fake Mailgun (fakes/mailgun.py) on 127.0.0.1: what workers started with
    esp_worker_env(fake_esp) send arrives there. Ask for it before `start_worker`, so the workers
    stop before it does."""
    with FakeMailgun(domains=[DOMAIN]) as esp:
        yield esp


@pytest.fixture
def mailgun_here(settings):
    """A fake Mailgun that this process's own mail goes to, through anymail's Mailgun backend: for
    tests whose tasks run in-process (eager), unlike `fake_esp`, which is for workers."""
    with FakeMailgun() as esp:
        use_mailgun(settings, esp.api_url, REQUESTS_TIMEOUT=10)
        yield esp


def esp_worker_env(esp, **extra) -> dict[str, str]:
    """start_worker() environment: anymail's real Mailgun backend with its API URL at `esp`, batches
    of 5, retries after 1-2 s, a 5 s client timeout; `extra` adds or replaces variables."""
    env = {
        "EMAIL_BACKEND": "subscriptions.esp.MailgunBatchBackend",  # MAIL_MERGE_PLACEHOLDER follows
        "TEST_EMAIL_BACKEND": "subscriptions.esp.MailgunBatchBackend",  # over test_settings' locmem
        "ANYMAIL_MAILGUN_API_KEY": esp.api_key,
        "ANYMAIL_MAILGUN_SENDER_DOMAIN": DOMAIN,
        "ANYMAIL_MAILGUN_API_URL": esp.api_url,
        "TEST_ANYMAIL_REQUESTS_TIMEOUT": "5",
        "MAIL_BATCH_SIZE": "5",
        "MAIL_RETRY_BASE_SECONDS": "1",
        "MAIL_RETRY_MAX_SECONDS": "2",
    }
    return {**env, **{name: str(value) for name, value in extra.items()}}


def held(esp, count: int):
    """Wait until `count` requests are at the ESP, unanswered (held or hanging)."""
    return wait_for(
        lambda: len(found := [a for a in esp.attempts if a.status is None]) == count and found,
        what=f"{count} batches to be held at the ESP",
    )
