"""Fixtures of the channel tests (announcements/): loopback fakes of Telegram, Reddit and a webhook
receiver (tests/fake_channels.py), and settings that point the real client code at them.

`telegram_on`, `reddit_on`, `webhook_on` turn one channel on in this process; `channel_env(...)` is
the start_worker() environment that turns the same channels on in a worker.
"""

from __future__ import annotations

import pytest

from tests.fake_channels import TELEGRAM_TOKEN, FakeReddit, FakeTelegram, WebhookReceiver

TELEGRAM_CHAT = "-1001234567890"
SUBREDDIT = "mlmw"
WEBHOOK_SECRET = "webhook-secret-tests-only"


@pytest.fixture
def fake_telegram():
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def fake_reddit():
    with FakeReddit() as fake:
        yield fake


@pytest.fixture
def webhook_receiver():
    with WebhookReceiver() as fake:
        yield fake


def telegram_settings(fake: FakeTelegram) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_CHAT_ID": TELEGRAM_CHAT,
        "TELEGRAM_API_URL": fake.url,
    }


def reddit_settings(fake: FakeReddit) -> dict[str, str]:
    account = fake.account
    return {
        "REDDIT_CLIENT_ID": account.client_id,
        "REDDIT_CLIENT_SECRET": account.client_secret,
        "REDDIT_USERNAME": account.username,
        "REDDIT_PASSWORD": account.password,
        "REDDIT_USER_AGENT": "mlmw-tests/1.0 by u/mlmw_bot",
        "REDDIT_SUBREDDIT": SUBREDDIT,
        "REDDIT_OAUTH_URL": fake.url,
        "REDDIT_URL": fake.url,
    }


def webhook_settings(fake: WebhookReceiver) -> dict[str, str]:
    return {"WEBHOOK_URLS": f"{fake.url}/hooks/mlmw", "WEBHOOK_SECRET": WEBHOOK_SECRET}


def _apply(settings, values: dict[str, str]) -> None:
    for name, value in values.items():
        setattr(settings, name, value.split(",") if name == "WEBHOOK_URLS" else value)


@pytest.fixture
def no_retry_floor(settings):
    """Countdowns as the services ask, with no minimum (ANNOUNCE_RETRY_MIN_SECONDS=0)."""
    settings.ANNOUNCE_RETRY_MIN_SECONDS = 0
    return settings


@pytest.fixture
def telegram_on(settings, fake_telegram) -> FakeTelegram:
    _apply(settings, telegram_settings(fake_telegram))
    settings.TELEGRAM_LINK_PREVIEW = True
    return fake_telegram


@pytest.fixture
def reddit_on(settings, fake_reddit) -> FakeReddit:
    _apply(settings, reddit_settings(fake_reddit))
    settings.REDDIT_POST_KIND = "link"
    settings.REDDIT_FLAIR_ID = settings.REDDIT_FLAIR_TEXT = ""
    return fake_reddit


@pytest.fixture
def webhook_on(settings, webhook_receiver) -> WebhookReceiver:
    _apply(settings, webhook_settings(webhook_receiver))
    return webhook_receiver


def channel_env(settings, telegram=None, reddit=None, webhook=None) -> dict[str, str]:
    """start_worker() environment turning on the channels given (and the same in this process)."""
    env = {"TEST_CHANNELS": "on"}
    if telegram is not None:
        env.update(telegram_settings(telegram))
    if reddit is not None:
        env.update(reddit_settings(reddit))
    if webhook is not None:
        env.update(webhook_settings(webhook))
    _apply(settings, {k: v for k, v in env.items() if k != "TEST_CHANNELS"})
    return env
