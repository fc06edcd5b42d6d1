"""The fake Mailgun (fakes/mailgun.py) speaks what django-anymail's real Mailgun backend sends.

Every send here goes through anymail.backends.mailgun.EmailBackend over HTTP to the fake on
127.0.0.1, and the assertions read what the fake received. The only wait is the scripted hang: the
client's 0.3 s timeout (set by that test alone) ends the send, and stopping the fake ends the hang.
The fake's form parser is also checked directly against what requests encodes, and the fake as the
benchmark's process (bench/fake_esp_server.py) is started and read over HTTP.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
from anymail.exceptions import AnymailRequestsAPIError
from django.core.mail import EmailMultiAlternatives, get_connection
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fakes.mailgun import MAX_RECIPIENTS, FakeMailgun, parse_form, read_record_dir
from tests.esp import DOMAIN, READERS, SENDER, release_batch, use_mailgun

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def esp(mailgun_here):
    """A running fake Mailgun that Django's mail goes to, through anymail's Mailgun backend."""
    return mailgun_here


def post(esp: FakeMailgun, fields, *, key: str = "key-test") -> requests.Response:
    """A raw POST to the fake, for requests anymail would never build."""
    return requests.post(
        f"{esp.api_url}/{DOMAIN}/messages", data=fields, auth=("api", key), timeout=5
    )


# --- A batch, as the fan-out will send it -----------------------------------------------------------


def test_a_batch_to_three_readers_is_one_request_and_three_personalised_messages(esp):
    message = release_batch()

    message.send()

    assert len(esp.attempts) == 1
    [batch] = esp.batches
    assert batch.to == tuple(READERS)
    assert not batch.shared
    assert sorted(esp.recipients()) == sorted(READERS)
    for address, (name, url, _delivery) in READERS.items():
        [mail] = esp.messages_to(address)
        assert mail.to_header == address
        assert mail.subject == f"MLMW 0.10.1 for {name}"
        assert mail.text == f"Hello {name}.\nUnsubscribe: {url}\n"
        assert mail.html == f'<p>Hello {name}.</p><a href="{url}">Unsubscribe</a>'
        assert mail.unresolved == ()


def test_each_reader_gets_their_own_unsubscribe_headers_delivery_id_and_tags(esp):
    release_batch().send()

    for address, (_name, url, delivery) in READERS.items():
        [mail] = esp.messages_to(address)
        assert mail.header("list-unsubscribe") == f"<{url}>"
        assert mail.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert mail.metadata == {"delivery_id": str(delivery)}
        assert mail.tags == ("release",)


def test_anymail_gives_every_recipient_the_message_id_the_fake_answered(esp):
    message = release_batch()

    message.send()

    [batch] = esp.batches
    assert batch.message_id.startswith("<") and batch.message_id.endswith(f"@{DOMAIN}>")
    statuses = message.anymail_status.recipients
    assert set(statuses) == set(READERS)
    assert {status.message_id for status in statuses.values()} == {batch.message_id}
    assert {status.status for status in statuses.values()} == {"queued"}
    assert all(mail.message_id == batch.message_id for mail in esp.messages)


def test_every_request_gets_its_own_message_id(esp):
    connection = get_connection()
    first, second = release_batch(), release_batch()

    connection.send_messages([first, second])

    ids = [batch.message_id for batch in esp.batches]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert first.anymail_status.message_id == ids[0]
    assert second.anymail_status.message_id == ids[1]


def test_a_batch_with_an_attachment_arrives_as_multipart_and_is_personalised_the_same(esp):
    message = release_batch()
    message.attach("changelog.txt", "Added: scikit-learn.\n", "text/plain")

    message.send()

    [batch] = esp.batches
    [attachment] = batch.attachments
    assert (attachment.filename, attachment.content) == ("changelog.txt", b"Added: scikit-learn.\n")
    [mail] = esp.messages_to("bo@example.org")
    assert mail.subject == "MLMW 0.10.1 for Bo"


def test_a_plain_message_to_several_addresses_is_recorded_as_a_shared_mail(esp):
    EmailMultiAlternatives(
        "News", "Same text for all", SENDER, ["ana@example.com", "bo@example.org"]
    ).send()

    [batch] = esp.shared_batches
    assert batch.recipient_variables is None
    assert [mail.to_header for mail in batch.messages] == ["ana@example.com, bo@example.org"] * 2


def test_empty_merge_data_sends_separate_unpersonalised_mails_that_are_not_shared(esp):
    message = EmailMultiAlternatives(
        "News", "Same text", SENDER, ["ana@example.com", "bo@example.org"]
    )
    message.merge_data = {}

    message.send()

    [batch] = esp.batches
    assert batch.recipient_variables == {}
    assert not batch.shared
    assert [mail.to_header for mail in batch.messages] == ["ana@example.com", "bo@example.org"]


def test_a_message_to_one_address_is_not_shared(esp):
    EmailMultiAlternatives("Welcome", "Hello", SENDER, ["ana@example.com"]).send()

    assert esp.shared_batches == []
    assert [mail.to for mail in esp.messages] == ["ana@example.com"]


# --- Faults -----------------------------------------------------------------------------------------


def test_a_500_raises_an_api_error_with_the_status_and_the_response(esp):
    esp.script([("status", 500)])

    with pytest.raises(AnymailRequestsAPIError) as raised:
        release_batch().send()

    assert raised.value.status_code == 500
    assert raised.value.response.status_code == 500
    assert raised.value.response.json() == {"message": "Internal Server Error"}
    assert [(a.outcome, a.status, a.accepted) for a in esp.attempts] == [
        (("status", 500), 500, False)
    ]
    assert esp.batches == []


def test_a_429_with_retry_after_shows_the_header_on_the_exception_response(esp):
    esp.script([("status", 429, {"Retry-After": "2"})])

    with pytest.raises(AnymailRequestsAPIError) as raised:
        release_batch().send()

    assert raised.value.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "2"


def test_the_script_is_consumed_one_answer_per_request_then_everything_is_ok(esp):
    esp.script([("status", 503), "ok"])

    with pytest.raises(AnymailRequestsAPIError):
        release_batch().send()
    release_batch().send()
    release_batch().send()

    assert [a.status for a in esp.attempts] == [503, 200, 200]
    assert len(esp.batches) == 2
    assert esp.pending_script == []


def test_a_permanent_400_carries_its_body(esp):
    esp.script([("status", 400, '{"message": "to parameter is not a valid address"}')])

    with pytest.raises(AnymailRequestsAPIError) as raised:
        release_batch().send()

    assert raised.value.status_code == 400
    assert raised.value.response.json() == {"message": "to parameter is not a valid address"}


def test_a_hang_longer_than_the_client_timeout_raises_a_timeout(esp, settings):
    # Only this test waits for a timeout: 0.3 s. The others get 10 s, so a loaded machine's slow
    # answer is not taken for a hang.
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": 0.3}
    esp.script([("hang", 2)])

    with pytest.raises(requests.Timeout) as raised:
        release_batch().send()

    assert isinstance(raised.value, AnymailRequestsAPIError)
    assert raised.value.status_code is None
    [attempt] = esp.attempts
    assert (attempt.outcome, attempt.status) == (("hang", 2.0), None)
    assert attempt.to == list(READERS)
    assert esp.batches == []  # still hanging: stopping the fake ends the hang unanswered


def test_ok_then_drop_records_the_batch_but_the_client_gets_a_connection_error(esp):
    esp.script(["ok_then_drop"])

    with pytest.raises(requests.ConnectionError) as raised:
        release_batch().send()

    assert isinstance(raised.value, AnymailRequestsAPIError)
    [attempt] = esp.attempts
    assert (attempt.outcome, attempt.status, attempt.accepted) == (("ok_then_drop",), None, True)
    [batch] = esp.batches
    assert batch.to == tuple(READERS)  # the ESP has it: sending again would duplicate it


def test_a_wrong_api_key_is_refused_with_401_like_mailgun(esp, settings):
    use_mailgun(settings, esp.api_url, MAILGUN_API_KEY="key-wrong")

    with pytest.raises(AnymailRequestsAPIError) as raised:
        release_batch().send()

    assert raised.value.status_code == 401
    assert [(a.outcome, a.status) for a in esp.attempts] == [("unauthorized", 401)]


def test_a_sender_domain_the_fake_does_not_serve_gets_mailguns_404(settings):
    with FakeMailgun(domains=["mg.other.example"]) as esp:
        use_mailgun(settings, esp.api_url)

        with pytest.raises(AnymailRequestsAPIError, match="Unknown sender domain") as raised:
            release_batch().send()

    assert raised.value.status_code == 404
    assert [(a.outcome, a.status) for a in esp.attempts] == [("unknown_domain", 404)]


def test_unknown_outcomes_are_refused_when_scripted(esp):
    for wrong in ["fine", ("status",), ("status", "500"), ("hang",), ("ok", 1)]:
        with pytest.raises(ValueError):
            esp.script([wrong])


# --- Validation: the client bugs Mailgun would refuse -----------------------------------------------


def test_recipient_variables_must_have_an_entry_for_every_to_address(esp):
    fields = {
        "from": SENDER,
        "to": ["ana@example.com", "bo@example.org"],
        "subject": "Hi %recipient.name%",
        "text": "Hello",
        "recipient-variables": json.dumps({"ana@example.com": {"name": "Ana"}}),
    }

    response = post(esp, fields)

    assert response.status_code == 400
    assert "'bo@example.org'" in response.json()["message"]
    assert esp.attempts[0].rejection == response.json()["message"]
    assert esp.batches == []


@pytest.mark.parametrize(
    ("missing", "complaint"),
    [
        ("from", "from parameter is missing"),
        ("to", "to parameter is missing"),
        ("subject", "subject parameter is missing"),
        ("text", "Need at least one of 'text', 'html'"),
    ],
)
def test_a_request_without_a_required_field_is_refused(esp, missing, complaint):
    fields = {"from": SENDER, "to": "ana@example.com", "subject": "Hi", "text": "Hello"}
    del fields[missing]

    response = post(esp, fields)

    assert response.status_code == 400
    assert response.json()["message"].startswith(complaint)


def test_recipient_variables_must_be_json(esp):
    fields = {"from": SENDER, "to": "ana@example.com", "subject": "Hi", "text": "Hello"}

    response = post(esp, {**fields, "recipient-variables": "{not json"})

    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]


def test_more_than_1000_recipients_in_one_call_is_refused(esp):
    readers = {f"reader{n}@example.com": (f"R{n}", f"https://u/{n}", n) for n in range(1001)}

    with pytest.raises(AnymailRequestsAPIError) as raised:
        release_batch(readers).send()

    assert raised.value.status_code == 400
    assert "Too many recipients: 1001" in raised.value.response.json()["message"]
    assert MAX_RECIPIENTS == 1000


def test_exactly_1000_recipients_in_one_call_are_accepted(esp):
    readers = {f"reader{n}@example.com": (f"R{n}", f"https://u/{n}", n) for n in range(1000)}

    release_batch(readers).send()

    [batch] = esp.batches
    assert len(batch.messages) == 1000
    assert esp.messages_to("reader999@example.com")[0].subject == "MLMW 0.10.1 for R999"
    assert esp.duplicate_recipients() == {}


def test_an_idn_recipient_is_refused_because_anymail_keys_its_variables_by_the_unicode_address(
    esp,
):
    # anymail IDNA-encodes the `to` field but keys recipient-variables by the address as given:
    # Mailgun would find no variables for it. Send ASCII (punycode) addresses.
    readers = {"ana@bücher.example": ("Ana", "https://u/ana", 1)}

    with pytest.raises(AnymailRequestsAPIError) as raised:
        release_batch(readers).send()

    assert "ana@xn--bcher-kva.example" in raised.value.response.json()["message"]

    release_batch({"ana@xn--bcher-kva.example": ("Ana", "https://u/ana", 1)}).send()
    assert esp.messages_to("ana@xn--bcher-kva.example")[0].subject == "MLMW 0.10.1 for Ana"


# --- The form parser reads what requests writes -----------------------------------------------------

field_names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9:_.-]{0,15}", fullmatch=True)
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(field_names, any_text), min_size=1, max_size=6))
def test_the_parser_reads_back_any_fields_requests_encodes(fields):
    urlencoded = requests.Request("POST", "http://x/", data=fields).prepare()
    multipart = requests.Request(
        "POST", "http://x/", data=fields, files=[("attachment", ("a.txt", b"--\r\n\r\nx"))]
    ).prepare()

    assert parse_form(urlencoded.headers["Content-Type"], urlencoded.body.encode()) == (
        tuple(fields),
        (),
    )
    parsed_fields, [attachment] = parse_form(multipart.headers["Content-Type"], multipart.body)
    assert parsed_fields == tuple(fields)
    assert attachment.content == b"--\r\n\r\nx"


@pytest.mark.parametrize(
    "body", [b"a=%zz&b=%4", b"a=%41=b", b"a=%e2%82%ac+%2B", b"a", b"=x&&b=", b"a=%", b"a=x%4"]
)
def test_the_parser_reads_broken_escapes_as_urllib_does(body):
    expected = tuple(parse_qsl(body.decode(), keep_blank_values=True))

    assert parse_form("application/x-www-form-urlencoded", body) == (expected, ())


# --- Counting, and running as a process -------------------------------------------------------------


def test_count_only_keeps_counters_but_no_messages(settings):
    with FakeMailgun(count_only=True) as esp:
        use_mailgun(settings, esp.api_url)
        esp.script([("status", 503)])
        with pytest.raises(AnymailRequestsAPIError):
            release_batch().send()
        release_batch().send()

        stats = esp.stats

    assert esp.batches == [] and esp.attempts == []
    assert {k: stats[k] for k in ("requests", "accepted", "recipients", "faults", "shared")} == {
        "requests": 2,
        "accepted": 1,
        "recipients": 3,
        "faults": 1,
        "shared": 0,
    }


def start_process(*options: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "bench/fake_esp_server.py", "--port", "0", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    assert line.startswith("FakeMailgun listening on "), line
    return process, line.split()[-1]


def stop_process(process: subprocess.Popen) -> str:
    process.terminate()
    output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    return output


def test_as_a_count_only_process_it_serves_its_counters_at_stats(settings):
    process, api_url = start_process("--count-only")
    try:
        use_mailgun(settings, api_url)
        release_batch().send()
        stats = requests.get(api_url.removesuffix("/v3") + "/stats", timeout=5).json()
    finally:
        output = stop_process(process)

    assert (stats["requests"], stats["accepted"], stats["recipients"]) == (1, 1, 3)
    assert '"recipients": 3' in output


def test_as_a_recording_process_it_appends_batches_that_read_back_as_messages(settings, tmp_path):
    process, api_url = start_process("--record-dir", str(tmp_path))
    try:
        use_mailgun(settings, api_url)
        release_batch().send()
    finally:
        stop_process(process)

    [batch] = read_record_dir(tmp_path)
    [mail] = [m for m in batch.messages if m.to == "cy@example.net"]
    assert mail.header("List-Unsubscribe") == "<https://mlmw.example/unsubscribe/cy-token/>"
    [attempt] = (
        json.loads(line) for line in (tmp_path / "attempts.jsonl").read_text().splitlines()
    )
    assert (attempt["status"], attempt["recipients"]) == (200, 3)


def test_an_address_refused_for_good_is_refused_in_every_request_before_the_script(esp):
    esp.refuse("Bo@example.org")
    esp.script([("status", 503)])
    for _ in range(2):
        with pytest.raises(AnymailRequestsAPIError) as raised:
            release_batch().send()
        assert raised.value.status_code == 400
        assert "not a valid address: bo@example.org" in raised.value.response.json()["message"]

    assert [(a.outcome, a.status) for a in esp.attempts] == [("rejected", 400)] * 2
    assert esp.attempts[0].to == list(READERS)
    assert esp.pending_script == [("status", 503)]  # consumed by no refused request
    assert esp.batches == [] and esp.stats["rejected"] == 2
