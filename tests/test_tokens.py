"""The personal link tokens: the fast signing path signs exactly as Django's Signer does."""

import uuid

import pytest
from django.core import signing
from django.test import override_settings

from subscriptions import tokens
from subscriptions.models import Subscriber


@pytest.mark.parametrize(
    ("make", "salt"),
    [
        (tokens.unsubscribe_token, "mlmw.subscriptions.unsubscribe"),
        (tokens.manage_token, "mlmw.subscriptions.manage"),
    ],
)
def test_link_tokens_are_what_djangos_signer_makes(make, salt):
    for _ in range(50):
        subscriber = Subscriber(email="ann@example.com", uid=uuid.uuid4())
        assert make(subscriber) == signing.Signer(salt=salt).sign(subscriber.uid.hex)


def test_a_changed_secret_key_signs_with_the_new_key(db):
    subscriber = Subscriber.objects.create(email="ann@example.com", status="pending")
    before = tokens.unsubscribe_token(subscriber)
    with override_settings(SECRET_KEY="another-key-entirely-" + "x" * 40):
        after = tokens.unsubscribe_token(subscriber)
        assert after != before
        assert tokens.read_unsubscribe_token(after) == subscriber


def test_a_token_signed_with_the_old_key_still_reads_after_rotation(db, settings):
    subscriber = Subscriber.objects.create(email="bob@example.com", status="pending")
    old_key = settings.SECRET_KEY
    token = tokens.manage_token(subscriber)
    settings.SECRET_KEY = "the-new-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert tokens.read_manage_token(token) == subscriber
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(tokens.BadToken):
        tokens.read_manage_token(token)
