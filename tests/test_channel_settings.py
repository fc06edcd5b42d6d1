"""Channel settings from the environment: all unset is off; half set stops the process naming what is
missing; a bad value is refused with the variable's name."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def settings_check(**extra: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "REDDIT_", "WEBHOOK_", "DJANGO_SETTINGS"))
    }
    env.update({"DJANGO_SETTINGS_MODULE": "mlmw.settings", "DEBUG": "true", **extra})
    code = "import django; django.setup(); print('ok')"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TELEGRAM_BOT_TOKEN": "123:abc"},
            "Telegram is half configured: set TELEGRAM_CHAT_ID too, or unset the others.",
        ),
        (
            {"REDDIT_CLIENT_ID": "id", "REDDIT_SUBREDDIT": "mlmw"},
            "Reddit is half configured: set REDDIT_CLIENT_SECRET, REDDIT_USERNAME, "
            "REDDIT_PASSWORD, REDDIT_USER_AGENT too",
        ),
        (
            {"WEBHOOK_URLS": "https://hooks.example/a"},
            "The webhook channel is half configured: set WEBHOOK_SECRET too",
        ),
        ({"REDDIT_POST_KIND": "video"}, "REDDIT_POST_KIND='video' must be link or self."),
        ({"TELEGRAM_LINK_PREVIEW": "maybe"}, "TELEGRAM_LINK_PREVIEW='maybe' is not a boolean"),
        (
            {"WEBHOOK_URLS": "ftp://hooks.example/a", "WEBHOOK_SECRET": "s"},
            "WEBHOOK_URLS: every URL must be an http(s) URL.",
        ),
        (
            {"WEBHOOK_URLS": "https://hooks.example/" + "x" * 500, "WEBHOOK_SECRET": "s"},
            "WEBHOOK_URLS: every URL must be at most 500 characters.",
        ),
    ],
)
def test_bad_channel_settings_stop_the_process_with_a_clear_message(env, message):
    result = settings_check(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_unset_channel_settings_are_fine():
    result = settings_check()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
