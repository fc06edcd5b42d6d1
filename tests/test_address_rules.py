"""Which addresses the subscribe form accepts, and how it stores and sends to them.

Trimmed; at most 254 characters; no CR/LF and no display names; the domain stored and sent in IDNA
form; one subscriber per address whatever its case, enforced by the database itself. Invalid input
(the address, or a guide or cadence beside it) shows a clear error and nothing is stored or sent.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from subscriptions.models import Subscriber
from tests.pages import text


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


def address_of_length(length: int) -> str:
    local = "a" * 64
    rest = length - len(local) - len("@") - len(".org") - 2 * (63 + 1)
    address = f"{local}@{'b' * 63}.{'c' * 63}.{'d' * rest}.org"
    assert len(address) == length
    return address


def test_the_address_is_trimmed_before_it_is_stored_and_mailed(
    client, post_committed, mailoutbox, guide
):
    response = post_committed(
        client, "/subscribe/", {"email": " \t ann@example.org \n"}, follow=True
    )

    assert "Check your inbox" in text(response)
    assert Subscriber.objects.get().email == "ann@example.org"
    assert [m.to for m in mailoutbox] == [["ann@example.org"]]


def test_an_address_of_254_characters_is_accepted(client, post_committed, mailoutbox, guide):
    address = address_of_length(254)

    response = post_committed(client, "/subscribe/", {"email": address}, follow=True)

    assert response.status_code == 200
    assert Subscriber.objects.get().email == address
    assert [m.to for m in mailoutbox] == [[address]]


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (address_of_length(255), "An email address can have at most 254 characters."),
        ("a" * 300 + "@example.org", "An email address can have at most 254 characters."),
        ("a" * 309 + "@example.org", "An email address can have at most 254 characters."),
        ("a" * 5000 + "@example.org", "An email address can have at most 254 characters."),
        ("ann@example.org\r\nBcc: eve@example.org", "An email address cannot contain line breaks."),
        ("ann@exam\nple.org", "An email address cannot contain line breaks."),
        ("ann@exam\rple.org", "An email address cannot contain line breaks."),
        (
            "Ann <ann@example.org>",
            "Enter the address alone, like ann@example.org, without a name or spaces.",
        ),
        (
            '"Ann" ann@example.org',
            "Enter the address alone, like ann@example.org, without a name or spaces.",
        ),
        ("ann@@example.org", "Enter a valid email address, like ann@example.org."),
        ("ann@exa_mple.org", "The domain of this address is not valid."),
        ("a@localhost", "The domain of this address is not valid."),
        ("ann@intranet", "The domain of this address is not valid."),
        ("a" * 65 + "@example.org", "The part before the @ can have at most 64 characters."),
        ("   ", "This field is required."),
    ],
    ids=[
        "255 characters",
        "312 characters",
        "321 characters",
        "5012 characters",
        "CRLF header injection",
        "LF",
        "CR",
        "display name",
        "quoted name",
        "two @",
        "bad domain",
        "localhost",
        "dotless domain",
        "65-character local part",
        "blank",
    ],
)
def test_an_invalid_address_shows_the_error_and_stores_and_sends_nothing(
    given, error, client, post_committed, mailoutbox, guide
):
    response = post_committed(client, "/subscribe/", {"email": given}, follow=True)

    assert response.status_code == 400
    page = text(response)
    assert error in page
    assert "Check your inbox" not in page
    assert "Subscribe for guide updates" in page  # the form again, to correct the address
    assert Subscriber.objects.count() == 0
    assert mailoutbox == []


def test_an_international_domain_is_stored_and_mailed_in_idna_form(
    client, post_committed, smtp_server, guide
):
    response = post_committed(client, "/subscribe/", {"email": "ann@exämple.org"}, follow=True)

    assert "Check your inbox" in text(response)
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "ann@xn--exmple-cua.org"
    assert subscriber.email_key == "ann@xn--exmple-cua.org"
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ("ann@xn--exmple-cua.org",)
    assert mail.header("To") == "ann@xn--exmple-cua.org"


def test_the_unicode_and_idna_spellings_of_a_domain_are_one_subscriber(
    client, post_committed, guide
):
    post_committed(client, "/subscribe/", {"email": "ann@exämple.org"}, follow=True)
    post_committed(client, "/subscribe/", {"email": "ann@XN--EXMPLE-CUA.org"}, follow=True)

    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ann@xn--exmple-cua.org"]


def test_two_subscribes_differing_only_in_case_make_one_subscriber(
    client, post_committed, mailoutbox, guide
):
    post_committed(client, "/subscribe/", {"email": "Ann@Example.ORG"}, follow=True)
    second = post_committed(client, "/subscribe/", {"email": "aNN@EXAMPLE.org"}, follow=True)

    assert "Check your inbox" in text(second)
    subscriber = Subscriber.objects.get()
    # The local part keeps the case first given; the domain is lower-case; the key ignores case.
    assert (subscriber.email, subscriber.email_key) == ("Ann@example.org", "ann@example.org")
    assert [m.to for m in mailoutbox] == [["Ann@example.org"]]  # the second is in the resend window


def test_the_database_itself_refuses_a_second_subscriber_with_the_same_key(guide):
    Subscriber.objects.create(email="Ann@example.org", email_key="ann@example.org")

    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(email="ANN@example.org", email_key="ann@example.org")

    assert list(Subscriber.objects.values_list("email", flat=True)) == ["Ann@example.org"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"cadence": "fortnightly"},
            "Select a valid choice. fortnightly is not one of the available choices.",
        ),
        (
            {"guides": ["999999"]},
            "Select a valid choice. 999999 is not one of the available choices.",
        ),
    ],
    ids=["unknown cadence", "unknown guide"],
)
def test_an_unknown_guide_or_cadence_beside_a_valid_address_shows_the_error_and_stores_nothing(
    change, error, client, post_committed, mailoutbox, guide
):
    # A page left open while a guide was removed, or a hand-made request: the person must see why.
    response = post_committed(
        client, "/subscribe/", {"email": "ann@example.org", **change}, follow=True
    )

    assert response.status_code == 400
    assert error in text(response)
    assert Subscriber.objects.count() == 0
    assert mailoutbox == []
