"""subscriptions.esp.MailgunBatchBackend sends what anymail's own Mailgun backend sends, field for
field, as multipart/form-data, and still parses (or refuses) every address anymail would."""

import pytest
from anymail.exceptions import AnymailInvalidAddress
from django.core.mail import EmailMultiAlternatives

from fakes.mailgun import FakeMailgun, parse_form
from subscriptions.esp import encode_multipart, parse_recipients
from tests.esp import DOMAIN, READERS, release_batch, use_mailgun

ANYMAIL = "anymail.backends.mailgun.EmailBackend"
OURS = "subscriptions.esp.MailgunBatchBackend"


@pytest.fixture
def esp(settings):
    with FakeMailgun() as fake:
        use_mailgun(settings, fake.api_url, REQUESTS_TIMEOUT=2)
        yield fake


def send_with(settings, backend: str, message: EmailMultiAlternatives) -> None:
    settings.EMAIL_BACKEND = backend
    message.send()


def test_it_sends_the_same_fields_as_anymails_mailgun_backend(esp, settings):
    send_with(settings, ANYMAIL, release_batch())
    send_with(settings, OURS, release_batch())

    theirs, ours = esp.batches
    assert sorted(ours.fields) == sorted(theirs.fields)
    assert ours.to == theirs.to == tuple(READERS)
    assert ours.recipient_variables == theirs.recipient_variables
    assert [m.text for m in ours.messages] == [m.text for m in theirs.messages]


def test_it_posts_multipart_form_data_not_url_encoded(esp, settings):
    send_with(settings, OURS, release_batch())

    [attempt] = esp.attempts
    assert attempt.content_type.startswith("multipart/form-data; boundary=")


def test_each_reader_still_gets_their_personal_message_and_headers(esp, settings):
    send_with(settings, OURS, release_batch())

    for address, (name, url, _delivery) in READERS.items():
        [mail] = esp.messages_to(address)
        assert mail.subject == f"MLMW 0.10.1 for {name}"
        assert mail.header("list-unsubscribe") == f"<{url}>"


def test_the_message_id_mailgun_answers_is_every_recipients_status(esp, settings):
    message = release_batch()
    send_with(settings, OURS, message)

    [batch] = esp.batches
    statuses = message.anymail_status.recipients
    assert set(statuses) == set(READERS)
    assert {status.message_id for status in statuses.values()} == {batch.message_id}


def test_plain_addresses_are_split_as_the_full_parser_would():
    from anymail.utils import parse_address_list

    addresses = ["ana@example.com", "o'neil+tag@mail.example.org", "x.y-z@sub.example.net"]
    assert [a.addr_spec for a in parse_recipients(addresses)] == [
        a.addr_spec for a in parse_address_list(addresses)
    ]
    assert [a.address for a in parse_recipients(addresses)] == addresses


def test_addresses_with_names_quotes_or_unicode_go_through_anymails_parser():
    parsed = parse_recipients(['"Ann, B." <ann@example.com>', "zoë@exämple.com"])

    assert [(a.display_name, a.addr_spec) for a in parsed] == [
        ("Ann, B.", "ann@example.com"),
        ("", "zoë@exämple.com"),
    ]


def test_an_invalid_address_is_refused_as_anymail_refuses_it():
    with pytest.raises(AnymailInvalidAddress):
        parse_recipients(["ann@example.com", "not an address@"])


def test_the_multipart_body_round_trips_through_the_fakes_parser():
    fields = {"to": ["a@example.com", "b@example.com"], "subject": 'Ünïcode "quoted"\r\nline'}

    body, content_type = encode_multipart(fields)

    parsed, attachments = parse_form(content_type, body)
    assert list(parsed) == [
        ("to", "a@example.com"),
        ("to", "b@example.com"),
        ("subject", 'Ünïcode "quoted"\r\nline'),
    ]
    assert attachments == ()


def test_a_message_with_an_attachment_is_left_to_requests_multipart_encoder(esp, settings):
    message = release_batch()
    message.attach("notes.txt", b"hello", "text/plain")
    send_with(settings, OURS, message)

    [batch] = esp.batches
    assert [a.filename for a in batch.attachments] == ["notes.txt"]
    assert batch.to == tuple(READERS)


def test_the_domain_is_the_configured_sender_domain(esp, settings):
    send_with(settings, OURS, release_batch())

    [batch] = esp.batches
    assert batch.domain == DOMAIN
