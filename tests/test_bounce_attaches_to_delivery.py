"""A bounce or complaint webhook whose message id is a release delivery's marks that delivery bounced.

The release goes out for real: publish() with its on-commit tasks run (eager Celery), through
django-anymail's Mailgun backend to the fake Mailgun API (fakes/mailgun.py), which answers one
message id for the whole batch, as Mailgun does. The webhooks are the ESPs' own payloads, signed and
POSTed as in tests/test_bounce_webhooks.py.
"""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from fakes.mailgun import FakeMailgun
from guide import publishing
from subscriptions import addresses
from subscriptions.models import Delivery, Mailing, Subscriber, SubscriberEvent
from tests.esp_webhooks import mailgun, post, postmark

Status = Subscriber.Status
pytestmark = pytest.mark.django_db


def subscriber(email: str, guide) -> Subscriber:
    made = Subscriber.objects.create(
        email=email,
        email_key=addresses.key(email),
        status=Status.CONFIRMED,
        confirmed_at=timezone.now(),
    )
    made.guides.add(guide)
    return made


@pytest.fixture
def ann(guide) -> Subscriber:
    return subscriber("ann@example.org", guide)


@pytest.fixture
def bob(guide) -> Subscriber:
    return subscriber("bob@example.org", guide)


@pytest.fixture
def esp(settings):
    """Release mail through anymail's real Mailgun backend, to the fake Mailgun API."""
    with FakeMailgun() as fake:
        settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
        settings.MAIL_MERGE_PLACEHOLDER = "%recipient.{}%"
        settings.ANYMAIL = {
            **settings.ANYMAIL,
            "MAILGUN_API_URL": fake.api_url,
            "MAILGUN_API_KEY": fake.api_key,
            "MAILGUN_SENDER_DOMAIN": "mg.mlmw.example",
        }
        yield fake


@pytest.fixture
def publish(django_capture_on_commit_callbacks):
    """Publish a version and run what its commit sets off: the mailing is sent when this returns."""

    def run(version) -> Mailing:
        with django_capture_on_commit_callbacks(execute=True):
            publishing.publish(version)
        mailing = Mailing.objects.get(version=version)
        assert mailing.status == Mailing.Status.DONE
        return mailing

    return run


def delivery_of(mailing: Mailing, who: Subscriber) -> Delivery:
    return mailing.deliveries.get(subscriber=who)


def test_a_mailgun_bounce_marks_its_recipients_delivery_of_a_shared_batch_bounced(
    client, esp, publish, draft, ann, bob
):
    mailing = publish(draft)
    [batch] = esp.batches
    assert sorted(batch.to) == ["ann@example.org", "bob@example.org"]
    assert {delivery_of(mailing, s).esp_message_id for s in (ann, bob)} == {batch.message_id}

    # Mailgun's webhook carries the Message-Id header's value, without the angle brackets.
    body = mailgun("failed_permanent", "ann@example.org", message_id=batch.message_id.strip("<>"))
    assert post(client, "mailgun", body).status_code == 200

    bounced, other = delivery_of(mailing, ann), delivery_of(mailing, bob)
    assert bounced.status == Delivery.Status.BOUNCED
    assert bounced.error == "Mailgun bounced: failed permanent bounce 550"
    assert (other.status, other.error) == (Delivery.Status.SENT, "")
    ann.refresh_from_db()
    bob.refresh_from_db()
    assert (ann.status, bob.status) == (Status.BOUNCED, Status.CONFIRMED)
    event = ann.events.get(kind=SubscriberEvent.Kind.BOUNCED)
    assert event.version == draft  # the history names the release that bounced


def test_a_postmark_bounce_names_the_delivery_by_its_own_message_id(
    client, publish, draft, ann, bob
):
    mailing = publish(draft)  # the suite's locmem backend: no message ids, so give them here
    ids = {s.pk: str(uuid.uuid4()) for s in (ann, bob)}
    for who in (ann, bob):
        mailing.deliveries.filter(subscriber=who).update(esp_message_id=ids[who.pk])

    post(client, "postmark", postmark("bounce_hard", "ann@example.org", message_id=ids[ann.pk]))

    assert delivery_of(mailing, ann).status == Delivery.Status.BOUNCED
    assert delivery_of(mailing, bob).status == Delivery.Status.SENT
    ann.refresh_from_db()
    assert ann.status == Status.BOUNCED


def test_a_complaint_marks_the_delivery_bounced_and_the_subscriber_complained(
    client, esp, publish, draft, ann, bob
):
    mailing = publish(draft)
    [batch] = esp.batches

    post(client, "mailgun", mailgun("complained", "bob@example.org", message_id=batch.message_id))

    assert delivery_of(mailing, bob).status == Delivery.Status.BOUNCED
    assert delivery_of(mailing, ann).status == Delivery.Status.SENT
    bob.refresh_from_db()
    assert bob.status == Status.COMPLAINED


def test_a_soft_bounce_leaves_the_delivery_sent(client, settings, esp, publish, draft, ann):
    settings.SOFT_BOUNCE_LIMIT = 3
    mailing = publish(draft)
    [batch] = esp.batches

    post(
        client,
        "mailgun",
        mailgun("failed_temporary", "ann@example.org", message_id=batch.message_id),
    )

    assert delivery_of(mailing, ann).status == Delivery.Status.SENT
    ann.refresh_from_db()
    assert (ann.status, ann.soft_bounces) == (Status.CONFIRMED, 1)


def test_a_bounce_of_another_message_bounces_the_subscriber_and_marks_no_delivery(
    client, esp, publish, draft, ann
):
    mailing = publish(draft)

    post(client, "mailgun", mailgun("failed_permanent", "ann@example.org"))  # a fresh message id

    assert delivery_of(mailing, ann).status == Delivery.Status.SENT
    ann.refresh_from_db()
    assert ann.status == Status.BOUNCED
    assert ann.events.get().version is None


def test_a_shared_message_id_names_no_delivery_for_an_address_outside_the_batch(
    client, esp, publish, draft, ann, bob
):
    mailing = publish(draft)
    [batch] = esp.batches
    stranger = Subscriber.objects.create(
        email="cy@example.org", email_key="cy@example.org", status=Status.UNSUBSCRIBED
    )

    post(client, "mailgun", mailgun("complained", "cy@example.org", message_id=batch.message_id))

    assert set(mailing.deliveries.values_list("status", flat=True)) == {Delivery.Status.SENT}
    stranger.refresh_from_db()
    assert stranger.status == Status.COMPLAINED  # found by its address, as before
    assert stranger.events.get().version is None
