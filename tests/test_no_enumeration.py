"""Nobody learns from /subscribe/ whether an address is on the list.

Every outcome answers with the same status, headers and bytes (once the CSRF token is normalised
out); the only difference is what lands in the address's own inbox, which only its owner can read.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from subscriptions.addresses import suppression_hash
from subscriptions.models import Subscriber, SuppressedAddress
from tests.pages import text

CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"|csrftoken=[A-Za-z0-9]+')
REFERENCE_ADDRESS = "reference@example.net"
ADDRESS = "ann@example.org"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


def subscriber(status: str, *, mailed_ago: timedelta | None, **fields) -> Subscriber:
    now = timezone.now()
    return Subscriber.objects.create(
        email=ADDRESS,
        email_key=ADDRESS,
        status=status,
        confirmed_at=now - timedelta(days=30) if status != Subscriber.Status.PENDING else None,
        confirm_nonce="old-nonce" if status == Subscriber.Status.PENDING else "",
        confirm_sent_at=None if mailed_ago is None else now - mailed_ago,
        **fields,
    )


def new(settings, client):
    return {}


def pending(settings, client):
    subscriber(Subscriber.Status.PENDING, mailed_ago=timedelta(days=1))
    return {}


def pending_within_resend_window(settings, client):
    subscriber(Subscriber.Status.PENDING, mailed_ago=timedelta(seconds=30))
    return {}


def confirmed(settings, client):
    subscriber(Subscriber.Status.CONFIRMED, mailed_ago=None, cadence="every")
    return {"cadence": "major"}  # someone who merely knows the address tries to change it


def unsubscribed(settings, client):
    subscriber(Subscriber.Status.UNSUBSCRIBED, mailed_ago=None, unsubscribed_at=timezone.now())
    return {}


def bounced(settings, client):
    subscriber(Subscriber.Status.BOUNCED, mailed_ago=None)
    return {}


def complained(settings, client):
    subscriber(Subscriber.Status.COMPLAINED, mailed_ago=None)
    return {}


def confirmed_within_resend_window(settings, client):
    subscriber(Subscriber.Status.CONFIRMED, mailed_ago=timedelta(seconds=30))
    return {}


def erased_earlier(settings, client):
    SuppressedAddress.objects.create(address_hash=suppression_hash(ADDRESS))
    return {}


def honeypot_filled(settings, client):
    return {"website": "https://cheap-pills.example"}


def rate_limited(settings, client):
    settings.SUBSCRIBE_RATE_PER_IP = "2/h"
    for n in range(2):
        client.post("/subscribe/", {"email": f"filler{n}@example.com"}, REMOTE_ADDR="192.0.2.9")
    return {"REMOTE_ADDR": "192.0.2.9"}


def rate_limited_by_mailbox(settings, client):
    settings.SUBSCRIBE_RATE_PER_MAILBOX = "1/h"
    client.post("/subscribe/", {"email": "a.nn+news@example.org"}, REMOTE_ADDR="192.0.2.10")
    return {}


# What each case leaves behind: (the address's stored status, subject of the mail it receives).
CASES = {
    "new": (new, Subscriber.Status.PENDING, "Confirm your subscription"),
    "pending": (pending, Subscriber.Status.PENDING, "Confirm your subscription"),
    "pending within the resend window": (
        pending_within_resend_window,
        Subscriber.Status.PENDING,
        None,
    ),
    "confirmed": (confirmed, Subscriber.Status.CONFIRMED, "You are already subscribed"),
    "unsubscribed": (unsubscribed, Subscriber.Status.PENDING, "Confirm your subscription"),
    "bounced": (bounced, Subscriber.Status.PENDING, "Confirm your subscription"),
    "complained": (complained, Subscriber.Status.PENDING, "Confirm your subscription"),
    "confirmed within the resend window": (
        confirmed_within_resend_window,
        Subscriber.Status.CONFIRMED,
        None,
    ),
    "erased earlier": (erased_earlier, Subscriber.Status.PENDING, "Confirm your subscription"),
    "honeypot filled": (honeypot_filled, None, None),
    "rate-limited": (rate_limited, None, None),
    "rate-limited by mailbox": (rate_limited_by_mailbox, None, None),
}


def normalised(response) -> bytes:
    return CSRF.sub(b"csrf", response.content)


def answer_headers(response) -> dict[str, str]:
    return {name: value for name, value in response.items()}


@pytest.fixture
def reference(client, post_committed, mailoutbox):
    """The answer to a brand-new address, from another IP: what every case must look like."""
    response = post_committed(
        client, "/subscribe/", {"email": REFERENCE_ADDRESS}, REMOTE_ADDR="198.51.100.1", follow=True
    )
    assert "Check your inbox" in text(response)
    assert [m.to for m in mailoutbox] == [[REFERENCE_ADDRESS]]
    mailoutbox.clear()
    return response


@pytest.mark.parametrize("case", list(CASES))
def test_every_subscribe_outcome_gets_the_same_answer_and_only_the_own_inbox_differs(
    case, guide, client, post_committed, mailoutbox, settings, reference
):
    arrange, expected_status, expected_subject = CASES[case]
    extra = arrange(settings, client)
    post_extra = {k: v for k, v in extra.items() if k.isupper()}
    form_extra = {k: v for k, v in extra.items() if not k.isupper()}
    mailoutbox.clear()
    before = Subscriber.objects.filter(email_key=ADDRESS).values().first()

    response = post_committed(
        client, "/subscribe/", {"email": ADDRESS, **form_extra}, **post_extra, follow=True
    )

    assert response.status_code == reference.status_code == 200
    assert normalised(response) == normalised(reference)
    assert answer_headers(response) == answer_headers(reference)
    assert dict(response.cookies) == dict(reference.cookies) == {}
    assert "Location" not in response
    # The only side effect anyone could notice is mail, and it goes to the address alone.
    assert all(message.to == [ADDRESS] for message in mailoutbox)
    assert [m.subject.split(" to MLMW")[0] for m in mailoutbox] == (
        [expected_subject] if expected_subject else []
    )
    after = Subscriber.objects.filter(email_key=ADDRESS).first()
    assert (after.status if after else None) == expected_status
    if case == "confirmed":
        assert after.cadence == before["cadence"] == "every"
        assert after.confirmed_at == before["confirmed_at"]
    if case == "pending within the resend window":
        assert after.confirm_nonce == before["confirm_nonce"] == "old-nonce"


def test_the_common_answer_is_the_check_your_inbox_page(client, post_committed, guide):
    response = post_committed(client, "/subscribe/", {"email": ADDRESS}, follow=True)

    assert response.status_code == 200
    assert "<title>Check your inbox</title>" in response.content.decode()
    assert text(response).startswith(
        "Machine Learning My Way Guides Changelog Feeds Search the guides Subscribe Check your inbox"
    )
    assert "If the address can receive our mail, a message is on its way." in text(response)
    assert ADDRESS not in response.content.decode()


def test_a_mail_server_failure_gets_the_same_answer_and_is_logged(
    guide, client, post_committed, reference, settings, caplog
):
    # Tasks run eagerly without a broker (`make run`), so the confirmation mail is sent inside the
    # request: a refused SMTP connection must not turn "new address" into an error page that
    # "pending within the resend window" never shows.
    from tests.smtp import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens there

    response = post_committed(client, "/subscribe/", {"email": ADDRESS}, follow=True)

    assert response.status_code == reference.status_code == 200
    assert normalised(response) == normalised(reference)
    assert Subscriber.objects.get(email_key=ADDRESS).status == Subscriber.Status.PENDING
    assert (
        not Subscriber.objects.get(email_key=ADDRESS)
        .events.filter(kind="confirmation_sent")
        .exists()
    )
    [failure] = [r for r in caplog.records if r.levelname == "ERROR" and "on_commit" in r.message]
    assert failure.exc_info is not None


def view_work(client, on_commit, address: str) -> tuple[list[str], int]:
    """The SQL the subscribe view runs (values left out) and the tasks it leaves for the commit."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries, on_commit() as callbacks:
        client.post("/subscribe/", {"email": address, "cadence": "major"})
    return [re.sub(r"'[^']*'|\b\d+\b", "?", q["sql"]) for q in queries], len(callbacks)


@pytest.mark.parametrize("case", ["pending", "confirmed", "unsubscribed", "erased_earlier"])
def test_the_subscribe_view_does_the_same_work_for_every_address(
    client, guide, settings, case, django_capture_on_commit_callbacks
):
    new_work = view_work(client, django_capture_on_commit_callbacks, REFERENCE_ADDRESS)
    globals()[case](settings, client)

    work = view_work(client, django_capture_on_commit_callbacks, ADDRESS)

    assert work == new_work
    assert work[1] == 1  # one task, which decides
    # The one row it writes is the stored request, a queued task (subscriptions.form_requests): no
    # subscriber is read or written here.
    touched = [sql.split(" (")[0] for sql in work[0] if "subscriptions_" in sql]
    assert touched == ['INSERT INTO "subscriptions_queuedtask"']
