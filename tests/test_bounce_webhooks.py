"""Bounces, complaints and ESP unsubscribes, through anymail's real webhook views.

Every event is an ESP's webhook body as the ESP sends it (tests/data/, the recipient and ids templated
in), POSTed over HTTP with the Django test client to /anymail/<esp>/tracking/: basic auth with the
WEBHOOK_SECRET, and for Mailgun the payload signed as Mailgun signs it. Nothing of anymail is mocked.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from base64 import b64encode
from datetime import timedelta

import pytest
import time_machine
from django.db import DatabaseError, connection
from django.test import Client
from django.utils import timezone

from subscriptions import addresses, bounces, lifecycle
from subscriptions.models import Subscriber, SubscriberEvent
from tests.esp_webhooks import NOW, OVER_QUOTA, SECRET, mailgun, post, postmark, sign

Status = Subscriber.Status
Kind = SubscriberEvent.Kind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def soft_bounce_rules(settings):
    settings.SOFT_BOUNCE_LIMIT = 3
    settings.SOFT_BOUNCE_WINDOW_DAYS = 30


# --- Subscribers -------------------------------------------------------------------------------------


def make_subscriber(email: str = "ann@example.org", status: str = Status.CONFIRMED) -> Subscriber:
    address = addresses.normalize_address(email)
    return Subscriber.objects.create(
        email=address,
        email_key=addresses.key(address),
        status=status,
        confirmed_at=timezone.now() if status == Status.CONFIRMED else None,
    )


def kinds(subscriber: Subscriber) -> list[str]:
    return list(subscriber.events.order_by("id").values_list("kind", flat=True))


def everything() -> tuple:
    """The whole subscriber state, to show that a request changed nothing."""
    return (
        list(
            Subscriber.objects.order_by("pk").values_list(
                "email_key", "status", "soft_bounces", "last_bounce_at", "unsubscribed_at"
            )
        ),
        list(SubscriberEvent.objects.order_by("pk").values_list("kind", "detail", "esp_event_id")),
    )


@pytest.fixture
def ann() -> Subscriber:
    return make_subscriber("ann@example.org")


@pytest.fixture
def bob() -> Subscriber:
    return make_subscriber("bob@example.org")


# --- Hard bounces ------------------------------------------------------------------------------------


def test_a_postmark_hard_bounce_marks_the_subscriber_bounced(client, ann, bob):
    body = postmark("bounce_hard", "ann@example.org")

    response = post(client, "postmark", body)

    assert response.status_code == 200
    ann.refresh_from_db()
    assert ann.status == Status.BOUNCED
    [event] = ann.events.all()
    assert event.kind == Kind.BOUNCED
    assert event.esp_event_id == f"postmark:{body['ID']}"
    assert event.detail.startswith(
        "Postmark bounced: HardBounce — The server was unable to deliver"
    )
    assert "smtp;550 5.1.1 The email account that you tried to reach does not exist" in event.detail
    bob.refresh_from_db()
    assert (bob.status, kinds(bob)) == (Status.CONFIRMED, [])


def test_a_mailgun_permanent_failure_marks_the_subscriber_bounced(client, ann):
    body = mailgun("failed_permanent", "ann@example.org")

    assert post(client, "mailgun", body).status_code == 200

    ann.refresh_from_db()
    assert ann.status == Status.BOUNCED
    [event] = ann.events.all()
    assert event.kind == Kind.BOUNCED
    data = body["event-data"]
    assert event.esp_event_id == f"mailgun:{data['id']}:{data['timestamp']}"
    assert event.detail.startswith("Mailgun bounced: failed permanent bounce 550 — 5.1.1 The email")
    assert "\n" not in event.detail


def test_a_pending_subscriber_bounces_too(client):
    pending = make_subscriber("pat@example.org", status=Status.PENDING)
    pending.new_confirm_nonce()
    pending.save()

    post(client, "postmark", postmark("bounce_hard", "pat@example.org"))

    pending.refresh_from_db()
    assert (pending.status, pending.confirm_nonce, kinds(pending)) == (
        Status.BOUNCED,
        "",
        [Kind.BOUNCED],
    )


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"Type": "BadEmailAddress", "TypeCode": 100000}, id="bad-address-rejected"),
        pytest.param({"Type": "HardBounce", "Inactive": False}, id="hard-bounce"),
    ],
)
def test_postmark_hard_bounce_types_bounce(client, ann, changes):
    post(client, "postmark", {**postmark("bounce_hard", "ann@example.org"), **changes})

    ann.refresh_from_db()
    assert (ann.status, kinds(ann)) == (Status.BOUNCED, [Kind.BOUNCED])


def test_a_postmark_suppression_for_a_hard_bounce_bounces(client, ann):
    body = postmark("subscription_change", "ann@example.org", message_id=str(uuid.uuid4()))
    body["SuppressionReason"] = "HardBounce"

    post(client, "postmark", body)

    ann.refresh_from_db()
    assert (ann.status, kinds(ann)) == (Status.BOUNCED, [Kind.BOUNCED])
    assert ann.events.get().detail.startswith("Postmark bounced: SubscriptionChange HardBounce")


def test_a_postmark_virus_notification_is_not_about_the_address(client, ann):
    body = {**postmark("bounce_hard", "ann@example.org"), "Type": "VirusNotification"}
    before = everything()

    response = post(client, "postmark", body)

    assert response.status_code == 200
    assert everything() == before


@pytest.mark.parametrize(
    ("reason", "status", "kind"),
    [
        ("suppress-bounce", Status.BOUNCED, Kind.BOUNCED),
        ("suppress-unsubscribe", Status.UNSUBSCRIBED, Kind.UNSUBSCRIBED),
        ("suppress-complaint", Status.COMPLAINED, Kind.COMPLAINED),
        ("old", Status.CONFIRMED, Kind.SOFT_BOUNCED),
    ],
)
def test_mailgun_failure_reasons(client, ann, reason, status, kind):
    body = mailgun("failed_permanent", "ann@example.org")
    body["event-data"]["reason"] = reason

    post(client, "mailgun", body)

    ann.refresh_from_db()
    assert (ann.status, kinds(ann)) == (status, [kind])


# --- Soft bounces ------------------------------------------------------------------------------------


def test_soft_bounces_count_and_bounce_the_subscriber_at_the_limit(client, ann):
    with time_machine.travel(NOW, tick=False):
        post(client, "postmark", postmark("bounce_soft", "ann@example.org"))
    with time_machine.travel(NOW + timedelta(days=12), tick=False):
        post(client, "postmark", postmark("bounce_soft", "ann@example.org"))

    ann.refresh_from_db()
    assert (ann.status, ann.soft_bounces) == (Status.CONFIRMED, 2)
    assert ann.last_bounce_at == NOW + timedelta(days=12)
    assert kinds(ann) == [Kind.SOFT_BOUNCED, Kind.SOFT_BOUNCED]
    latest = ann.events.order_by("id").last()
    assert latest.detail.startswith("2 of 3: Postmark bounced: SoftBounce — Unable to temporarily")
    assert latest.detail.endswith(OVER_QUOTA)

    with time_machine.travel(NOW + timedelta(days=20), tick=False):
        post(client, "postmark", postmark("bounce_soft", "ann@example.org"))

    ann.refresh_from_db()
    assert (ann.status, ann.soft_bounces) == (Status.BOUNCED, 3)
    assert kinds(ann) == [Kind.SOFT_BOUNCED] * 3 + [Kind.BOUNCED]
    bounced = ann.events.get(kind=Kind.BOUNCED)
    assert bounced.detail.startswith("3 soft bounces, each within 30 days of the previous one")
    assert bounced.esp_event_id is None  # the soft-bounce row holds the event's dedupe key


def test_soft_bounces_further_apart_than_the_window_do_not_accumulate(client, ann):
    for day in (0, 20, 51, 52):  # 51 is 31 days after 20: the count starts again
        with time_machine.travel(NOW + timedelta(days=day), tick=False):
            assert (
                post(client, "postmark", postmark("bounce_soft", "ann@example.org")).status_code
                == 200
            )
        ann.refresh_from_db()
        assert ann.status == Status.CONFIRMED
        assert ann.last_bounce_at == NOW + timedelta(days=day)

    assert ann.soft_bounces == 2
    assert kinds(ann) == [Kind.SOFT_BOUNCED] * 4


def test_mailgun_temporary_failures_count_once_per_message(client, ann):
    # Mailgun reports a temporary failure for every retry of a message: one message is one soft bounce.
    message_id = "20261001120000.RETRIED@mg.mlmw.example"
    for attempt in (1, 2, 3):
        body = mailgun(
            "failed_temporary", "ann@example.org", message_id=message_id, attempt=attempt
        )
        assert post(client, "mailgun", body).status_code == 200

    ann.refresh_from_db()
    assert (ann.status, ann.soft_bounces, kinds(ann)) == (Status.CONFIRMED, 1, [Kind.SOFT_BOUNCED])
    assert "Mailgun deferred: failed temporary generic 452 — 4.2.2 The email account" in (
        ann.events.get().detail
    )

    for _ in range(2):
        post(client, "mailgun", mailgun("failed_temporary", "ann@example.org"))

    ann.refresh_from_db()
    assert (ann.status, ann.soft_bounces) == (Status.BOUNCED, 3)


def test_soft_bounces_do_not_touch_a_subscriber_who_gets_no_mail(client):
    gone = make_subscriber("gone@example.org", status=Status.UNSUBSCRIBED)
    before = everything()

    post(client, "postmark", postmark("bounce_soft", "gone@example.org"))

    assert everything() == before
    gone.refresh_from_db()
    assert gone.soft_bounces == 0


# --- Complaints and unsubscribes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("esp", "build"),
    [
        ("postmark", lambda to: postmark("spam_complaint", to)),
        ("mailgun", lambda to: mailgun("complained", to)),
    ],
    ids=["postmark", "mailgun"],
)
def test_a_complaint_marks_the_subscriber_complained(client, ann, esp, build):
    assert post(client, esp, build("ann@example.org")).status_code == 200

    ann.refresh_from_db()
    assert (ann.status, kinds(ann)) == (Status.COMPLAINED, [Kind.COMPLAINED])
    assert ann.events.get().esp_event_id.startswith(f"{esp}:")


def test_a_complaint_outranks_an_earlier_unsubscribe(client):
    gone = make_subscriber("gone@example.org", status=Status.UNSUBSCRIBED)

    post(client, "postmark", postmark("spam_complaint", "gone@example.org"))

    gone.refresh_from_db()
    assert (gone.status, kinds(gone)) == (Status.COMPLAINED, [Kind.COMPLAINED])


@pytest.mark.parametrize(
    ("esp", "build", "detail"),
    [
        (
            "postmark",
            lambda to: postmark("subscription_change", to),
            "ESP unsubscribe: Postmark unsubscribed: SubscriptionChange ManualSuppression by Recipient",
        ),
        (
            "mailgun",
            lambda to: mailgun("unsubscribed", to),
            "ESP unsubscribe: Mailgun unsubscribed",
        ),
    ],
    ids=["postmark", "mailgun"],
)
def test_an_esp_unsubscribe_unsubscribes(client, ann, esp, build, detail):
    with time_machine.travel(NOW, tick=False):
        assert post(client, esp, build("ann@example.org")).status_code == 200

    ann.refresh_from_db()
    assert (ann.status, ann.unsubscribed_at) == (Status.UNSUBSCRIBED, NOW)
    [event] = ann.events.all()
    assert (event.kind, event.detail) == (Kind.UNSUBSCRIBED, detail)
    assert event.esp_event_id.startswith(f"{esp}:")


def test_a_postmark_reactivation_does_not_resubscribe(client):
    gone = make_subscriber("gone@example.org", status=Status.UNSUBSCRIBED)
    body = postmark("subscription_change", "gone@example.org")
    body.update(SuppressSending=False, SuppressionReason=None)
    before = everything()

    assert post(client, "postmark", body).status_code == 200

    assert everything() == before  # only the subscriber's own confirmation brings them back
    gone.refresh_from_db()
    assert gone.status == Status.UNSUBSCRIBED


@pytest.mark.parametrize("status", [Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED])
def test_a_bounce_for_a_subscriber_who_gets_no_mail_changes_nothing(client, status):
    make_subscriber("gone@example.org", status=status)
    before = everything()

    post(client, "postmark", postmark("bounce_hard", "gone@example.org"))
    post(client, "mailgun", mailgun("unsubscribed", "gone@example.org"))

    assert everything() == before


# --- Duplicates --------------------------------------------------------------------------------------

EVERY_EVENT = [
    ("postmark", lambda to: postmark("bounce_hard", to), Status.BOUNCED),
    ("postmark", lambda to: postmark("bounce_soft", to), Status.CONFIRMED),
    ("postmark", lambda to: postmark("spam_complaint", to), Status.COMPLAINED),
    ("postmark", lambda to: postmark("subscription_change", to), Status.UNSUBSCRIBED),
    ("mailgun", lambda to: mailgun("failed_permanent", to), Status.BOUNCED),
    ("mailgun", lambda to: mailgun("failed_temporary", to), Status.CONFIRMED),
    ("mailgun", lambda to: mailgun("complained", to), Status.COMPLAINED),
    ("mailgun", lambda to: mailgun("unsubscribed", to), Status.UNSUBSCRIBED),
]
EVENT_IDS = [
    "postmark-hard", "postmark-soft", "postmark-complaint", "postmark-unsubscribe",
    "mailgun-hard", "mailgun-soft", "mailgun-complaint", "mailgun-unsubscribe",
]  # fmt: skip


@pytest.mark.parametrize(("esp", "build", "status"), EVERY_EVENT, ids=EVENT_IDS)
def test_the_same_event_twice_acts_once(client, ann, esp, build, status):
    body = build("ann@example.org")
    assert post(client, esp, body).status_code == 200
    ann.refresh_from_db()
    assert ann.status == status
    # Between the two deliveries the subscriber confirmed again: only the event's key can tell.
    Subscriber.objects.filter(pk=ann.pk).update(status=Status.CONFIRMED, confirmed_at=NOW)
    after_first = everything()

    assert post(client, esp, body).status_code == 200

    assert everything() == after_first
    assert SubscriberEvent.objects.filter(esp_event_id__isnull=False).count() == 1


def test_mailgun_redelivering_an_event_with_a_new_signature_acts_once(client, ann):
    body = mailgun("complained", "ann@example.org")
    post(client, "mailgun", body)
    Subscriber.objects.filter(pk=ann.pk).update(status=Status.CONFIRMED, confirmed_at=NOW)

    post(client, "mailgun", sign(body, token=secrets.token_hex(25)))

    ann.refresh_from_db()
    assert (ann.status, kinds(ann)) == (Status.CONFIRMED, [Kind.COMPLAINED])


def test_a_delivery_that_loses_the_race_to_a_concurrent_one_changes_nothing(
    client, ann, monkeypatch
):
    # Another delivery of the same event commits its row after our duplicate check has passed: our
    # insert fails on the unique esp_event_id, the savepoint undoes our half-done work, we answer 200.
    body = postmark("bounce_soft", "ann@example.org")
    theirs = SubscriberEvent.objects.create(
        subscriber=ann,
        kind=Kind.SOFT_BOUNCED,
        detail="1 of 3: theirs",
        esp_event_id=f"postmark:soft:{body['MessageID']}:ann@example.org",
    )
    checks = []
    real_check = bounces.already_handled

    def check_before_they_commit(key):
        checks.append(key)
        return False if len(checks) == 1 else real_check(key)

    monkeypatch.setattr(bounces, "already_handled", check_before_they_commit)

    assert post(client, "postmark", body).status_code == 200

    assert checks == [theirs.esp_event_id] * 2
    ann.refresh_from_db()
    assert (ann.status, ann.soft_bounces, ann.last_bounce_at) == (Status.CONFIRMED, 0, None)
    assert list(ann.events.values_list("detail", flat=True)) == ["1 of 3: theirs"]


# --- Addresses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "reported"),
    [
        ("Ann.Smith@Example.ORG", "ann.smith@example.org"),
        ("ann.smith@example.org", "ANN.SMITH@EXAMPLE.ORG"),
        ("anna@bücher.example", "anna@xn--bcher-kva.example"),
        ("anna@bücher.example", "ANNA@BÜCHER.EXAMPLE"),
    ],
)
def test_the_recipient_matches_whatever_its_case_and_domain_form(client, stored, reported):
    subscriber = make_subscriber(stored)

    post(client, "postmark", postmark("bounce_hard", reported))

    subscriber.refresh_from_db()
    assert subscriber.status == Status.BOUNCED


@pytest.mark.parametrize(
    "recipient",
    [
        "stranger@example.org",
        "ann@example.org.invalid",
        "Ann <ann@example.org>",
        "not an address",
        "",
    ],
)
def test_an_unknown_recipient_is_answered_200_and_changes_nothing(client, ann, recipient, caplog):
    before = everything()

    with caplog.at_level(logging.INFO, logger="subscriptions.bounces"):
        response = post(client, "postmark", postmark("bounce_hard", recipient))

    assert response.status_code == 200
    assert everything() == before
    assert "is for no subscriber" in caplog.text
    assert recipient not in caplog.text or recipient == ""  # addresses stay out of the logs


# --- Security and malformed requests -----------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Basic " + b64encode(b"hook:wrong").decode(),
        "Basic " + b64encode(b"hook").decode(),
        "Bearer " + SECRET,
        "Basic not-base64!",
    ],
    ids=["no-auth", "wrong-secret", "no-password", "not-basic", "garbled"],
)
@pytest.mark.parametrize("esp", ["postmark", "mailgun"])
def test_a_request_without_the_secret_is_rejected(client, ann, esp, auth):
    if esp == "postmark":
        body = postmark("bounce_hard", "ann@example.org")
    else:
        body = mailgun("failed_permanent", "ann@example.org")
    before = everything()

    response = post(client, esp, body, auth=auth)

    assert response.status_code == 400
    assert everything() == before


def test_a_correctly_signed_mailgun_payload_is_accepted(client, ann):
    assert (
        post(client, "mailgun", mailgun("failed_permanent", "ann@example.org")).status_code == 200
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body: sign(body, key="not-our-signing-key"),
        lambda body: {**body, "signature": {**body["signature"], "token": "0" * 50}},
        lambda body: {**body, "signature": {**body["signature"], "timestamp": "1790000000"}},
        lambda body: {key: value for key, value in body.items() if key != "signature"},
    ],
    ids=["wrong-key", "other-token", "other-timestamp", "unsigned"],
)
def test_a_mailgun_payload_with_a_bad_signature_is_rejected(client, ann, tamper):
    body = tamper(mailgun("failed_permanent", "ann@example.org"))
    before = everything()

    assert post(client, "mailgun", body).status_code == 400

    assert everything() == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"RecordType": "Bounce"},
        {"RecordType": "Bounce", "Type": "HardBounce", "ID": 1},
        {"RecordType": "Bounce", "Type": "HardBounce", "ID": 2, "Email": ["ann@example.org"]},
        {"RecordType": "Bounce", "Type": "HardBounce", "ID": 3, "Email": {"to": "ann@example.org"}},
        {"RecordType": "Bounce", "Type": "HardBounce", "ID": 4, "Email": None},
        {"RecordType": "NoSuchRecord", "ID": 6, "Email": "ann@example.org"},
    ],
)
def test_a_malformed_postmark_payload_is_answered_200_and_changes_nothing(client, ann, body):
    before = everything()

    assert post(client, "postmark", body).status_code == 200

    assert everything() == before


@pytest.mark.parametrize("data", ["{not json", json.dumps({"event-data": {"event": "failed"}})])
def test_a_malformed_mailgun_payload_is_rejected_by_anymail(client, ann, data):
    before = everything()

    assert post(client, "mailgun", data).status_code == 400

    assert everything() == before


def test_a_failing_receiver_is_logged_answered_200_and_leaves_nothing_half_done(
    client, ann, monkeypatch, caplog
):
    # The database fails while the soft bounce is being recorded, after the counter was raised.
    def disk_full(*args, **kwargs):
        raise DatabaseError("could not extend file: No space left on device")

    monkeypatch.setattr(lifecycle, "record", disk_full)
    body = postmark("bounce_soft", "ann@example.org")

    with caplog.at_level(logging.ERROR, logger="subscriptions.bounces"):
        response = post(client, "postmark", body)

    assert response.status_code == 200  # no retry storm from the ESP
    [failure] = [r for r in caplog.records if r.name == "subscriptions.bounces"]
    assert failure.levelno == logging.ERROR
    assert failure.exc_info[0] is DatabaseError
    ann.refresh_from_db()
    assert (ann.soft_bounces, ann.last_bounce_at, kinds(ann)) == (0, None, [])

    monkeypatch.undo()  # the disk has room again; the ESP's next event is handled as usual
    post(client, "postmark", postmark("bounce_soft", "ann@example.org"))
    ann.refresh_from_db()
    assert (ann.soft_bounces, kinds(ann)) == (1, [Kind.SOFT_BOUNCED])


def test_an_mta_response_with_control_characters_is_stored_as_one_clean_line(client, ann):
    # Receiving servers answer with anything; PostgreSQL refuses NUL bytes in text outright.
    details = "smtp;452 4.2.2 Mailbox full\x00\r\n\t(quota 100%)\x1b[0m"

    body = postmark("bounce_soft", "ann@example.org", details=details)

    assert post(client, "postmark", body).status_code == 200

    event = ann.events.get()
    assert event.detail.endswith("smtp;452 4.2.2 Mailbox full (quota 100%) [0m")


def test_an_overlong_description_is_cut_to_fit(client, ann):
    body = postmark("bounce_hard", "ann@example.org")
    body["Details"] = "smtp;550 " + "x" * 2000

    post(client, "postmark", body)

    ann.refresh_from_db()
    assert ann.status == Status.BOUNCED
    assert len(ann.events.get().detail) == 500


# --- Concurrency (PostgreSQL) ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_act_once():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks and concurrent connections")
    subscriber = make_subscriber("ann@example.org")
    body = postmark("bounce_soft", "ann@example.org")
    start = threading.Barrier(6)
    statuses: list[int] = []

    def deliver():
        try:
            start.wait()
            statuses.append(post(Client(), "postmark", body).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 6
    subscriber.refresh_from_db()
    assert (subscriber.soft_bounces, kinds(subscriber)) == (1, [Kind.SOFT_BOUNCED])
