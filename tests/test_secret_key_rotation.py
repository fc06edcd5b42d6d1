"""Rotating SECRET_KEY keeps every mailed link working while the old key is in SECRET_KEY_FALLBACKS.

Unsubscribe and preferences links never expire (they sit in old mails), so a rotation must not break
them: the new key signs, the old keys (SECRET_KEY_FALLBACKS) still verify. Dropping an old key from
the fallbacks is what finally retires the links it signed.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from subscriptions import tokens
from subscriptions.models import Subscriber
from tests.conftest import make_subscribers
from tests.settings_process import load_settings

OLD_KEY = "old-key-" + "o" * 50
NEW_KEY = "new-key-" + "n" * 50


@pytest.fixture
def reader(guide) -> Subscriber:
    [subscriber] = make_subscribers(guide, "reader", 1)
    return subscriber


@pytest.fixture
def links_signed_with_the_old_key(reader, settings) -> dict[str, str]:
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    return {
        "unsubscribe": reverse(
            "subscriptions:unsubscribe", args=[tokens.unsubscribe_token(reader)]
        ),
        "manage": reverse("subscriptions:manage", args=[tokens.manage_token(reader)]),
    }


def rotate(settings, *, keep_old: bool) -> None:
    settings.SECRET_KEY = NEW_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_KEY] if keep_old else []


def test_an_old_one_click_unsubscribe_link_still_unsubscribes_after_a_rotation(
    reader, links_signed_with_the_old_key, settings
):
    rotate(settings, keep_old=True)

    response = Client(enforce_csrf_checks=True).post(
        links_signed_with_the_old_key["unsubscribe"], {"List-Unsubscribe": "One-Click"}
    )

    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED


def test_an_old_preferences_link_still_opens_the_preferences_after_a_rotation(
    client, reader, links_signed_with_the_old_key, settings
):
    rotate(settings, keep_old=True)

    response = client.get(links_signed_with_the_old_key["manage"])

    assert response.status_code == 200
    assert reader.email in response.content.decode()


def test_new_links_are_signed_with_the_new_key(reader, links_signed_with_the_old_key, settings):
    rotate(settings, keep_old=True)

    new_token = tokens.unsubscribe_token(reader)

    assert (
        reverse("subscriptions:unsubscribe", args=[new_token])
        != (links_signed_with_the_old_key["unsubscribe"])
    )
    settings.SECRET_KEY_FALLBACKS = []  # verifies without any fallback
    assert tokens.read_unsubscribe_token(new_token) == reader


def test_a_pending_confirmation_link_survives_a_rotation_too(reader, settings):
    settings.SECRET_KEY = OLD_KEY
    token = tokens.confirm_token(reader)
    rotate(settings, keep_old=True)

    claim = tokens.read_confirm_token(token)

    assert claim.uid == str(reader.uid)


def test_once_the_old_key_is_dropped_its_links_are_refused_and_change_nothing(
    client, reader, links_signed_with_the_old_key, settings
):
    rotate(settings, keep_old=False)

    one_click = client.post(
        links_signed_with_the_old_key["unsubscribe"], {"List-Unsubscribe": "One-Click"}
    )
    manage = client.get(links_signed_with_the_old_key["manage"])

    assert one_click.status_code == 400 and manage.status_code == 400
    assert "This link is not valid" in manage.content.decode()
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.CONFIRMED


def test_secret_key_fallbacks_come_from_the_environment_or_a_file(tmp_path):
    secret_file = tmp_path / "fallbacks"
    secret_file.write_text(f"{OLD_KEY},older-key\n")

    from_env = load_settings(
        {"DEBUG": "true", "SECRET_KEY_FALLBACKS": f"{OLD_KEY}, older-key"},
        "settings.SECRET_KEY_FALLBACKS",
    )
    from_file = load_settings(
        {"DEBUG": "true", "SECRET_KEY_FALLBACKS_FILE": str(secret_file)},
        "settings.SECRET_KEY_FALLBACKS",
    )

    assert json.loads(from_env.stdout) == [OLD_KEY, "older-key"], from_env.stderr
    assert json.loads(from_file.stdout) == [OLD_KEY, "older-key"], from_file.stderr
