"""manage.py load_demo_subscribers: confirmed demo subscribers whose history reads in order."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from subscriptions.models import Subscriber


def load() -> str:
    out = StringIO()
    call_command("load_demo", stdout=StringIO())
    call_command("load_demo_subscribers", stdout=out)
    return out.getvalue()


def test_demo_subscribers_are_confirmed_no_earlier_than_they_subscribed(db):
    assert load() == "demo subscribers: 5 created, 5 in all\n"

    subscribers = Subscriber.objects.all()
    assert len(subscribers) == 5
    for subscriber in subscribers:
        assert subscriber.status == Subscriber.Status.CONFIRMED
        assert subscriber.created_at <= subscriber.confirmed_at
        assert subscriber.consent_at == subscriber.confirmed_at


def test_loading_them_again_creates_nobody(db):
    load()

    assert load() == "demo subscribers: 0 created, 5 in all\n"
    assert Subscriber.objects.count() == 5
