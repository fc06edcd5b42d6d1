"""Preview as a subscriber, for a digest reader: the mail they get next is their digest. The admin
sees the digest they would get at their next slot (their baselines, cadence, filters, the versions
published now), when that slot is in their time zone, HTML and text, built by
digest_mail.next_digest through the digest run's own steps: byte for byte the message the run then
sends them but for Message-ID and Date. Nothing new says so; "Send a test to me" mails the admin
alone. A draft's preview for a digest reader shows their digest too."""

from __future__ import annotations

import pytest
import time_machine
from django.core import mail as outbox

from subscriptions import digest_mail
from subscriptions.models import Delivery, Mailing, Subscriber
from tests.csp import policy
from tests.digest_helpers import CHOSEN_AT, FIRST_SLOT, clear_caches, digest_run, weekly_reader
from tests.forms import page_form
from tests.mails import comparable
from tests.pages import iframes, links, text

pytestmark = pytest.mark.django_db

NEXT_DIGEST = "/admin/subscriptions/subscriber/{}/next-digest/"
# FIRST_SLOT as the admin reads it: Monday 12 October 2026, 08:00 in Berlin (summer time).
WHEN = "Monday 12 October 2026, 08:00 CEST (Europe/Berlin)"


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()


@pytest.fixture
def reader(guide, v0_9_0, v0_10_0, settings) -> Subscriber:
    """A weekly reader last mailed 0.9.0: their next digest holds 0.10.0."""
    settings.MAIL_SEND_RATE = 0
    settings.MAIL_MERGE_PLACEHOLDER = ""  # one message per reader, as SMTP sends them
    return weekly_reader(guide, v0_9_0)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def now():
    with time_machine.travel(CHOSEN_AT, tick=False):
        yield


def wire(message) -> list:
    return comparable(message.message().as_bytes(linesep="\r\n"))


def test_the_preview_is_byte_for_byte_the_digest_the_run_then_sends(reader, mailoutbox):
    with time_machine.travel(CHOSEN_AT, tick=False):
        found = digest_mail.next_digest(reader)
    assert found.message is not None and found.when == FIRST_SLOT

    [sent] = digest_run(FIRST_SLOT, mailoutbox)

    assert sent.to == [reader.email]
    assert Delivery.objects.get(subscriber=reader).status == Delivery.Status.SENT
    assert wire(sent) == wire(found.message)
    assert "View in browser: http://testserver/manage/" in sent.body


def test_the_preview_is_what_the_esp_receives_for_the_reader_in_a_digest_run(
    guide, v0_9_0, v0_10_0, settings, mailgun_here
):
    settings.MAIL_SEND_RATE = 0  # and the ESP's merge placeholders as configured
    reader = weekly_reader(guide, v0_9_0)
    others = [weekly_reader(guide, v0_9_0, prefix=name) for name in ("bob", "cy")]
    with time_machine.travel(CHOSEN_AT, tick=False):
        found = digest_mail.next_digest(reader)

    digest_run(FIRST_SLOT, [])

    [got] = mailgun_here.messages_to(reader.email)
    [(html, _)] = found.message.alternatives
    assert (got.subject, got.text, got.html) == (found.message.subject, found.message.body, html)
    assert got.header("List-Unsubscribe") == found.message.extra_headers["List-Unsubscribe"]
    assert got.unresolved == ()
    assert sorted(mailgun_here.recipients()) == sorted(r.email for r in [reader, *others])


def test_a_filtered_readers_preview_is_the_filtered_digest_the_run_sends(
    guide, v0_9_0, v0_10_0, settings, mailoutbox
):
    settings.MAIL_MERGE_PLACEHOLDER = ""
    reader = weekly_reader(guide, v0_9_0, kinds={"removed"})
    with time_machine.travel(CHOSEN_AT, tick=False):
        found = digest_mail.next_digest(reader)
    assert "Showing only: Removed" in found.message.body

    [sent] = digest_run(FIRST_SLOT, mailoutbox)

    assert wire(sent) == wire(found.message)


def test_the_subscriber_page_leads_to_their_next_digest_with_when_html_and_text(
    admin_client, reader, now
):
    page = admin_client.get(f"/admin/subscriptions/subscriber/{reader.pk}/change/")
    assert (f"Their next weekly digest ({WHEN})", NEXT_DIGEST.format(reader.pk)) in links(page)
    message = digest_mail.next_digest(reader).message

    response = admin_client.get(NEXT_DIGEST.format(reader.pk))

    assert response.status_code == 200
    assert f"Their next digest: {WHEN}." in text(response)
    assert f"Subject: {message.subject}" in text(response)
    [(html, _)] = message.alternatives
    [frame] = iframes(response)
    assert frame["sandbox"] in ("", None) and frame["srcdoc"] == html
    assert message.body.split("\n")[0] in text(response)
    directives = policy(response)
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert directives["script-src"] == ["'self'"]


def test_with_nothing_new_the_preview_says_so_and_shows_no_mail(admin_client, guide, v0_10_0, now):
    reader = weekly_reader(guide, v0_10_0)  # already mailed the newest

    response = admin_client.get(NEXT_DIGEST.format(reader.pk))

    assert digest_mail.next_digest(reader).message is None
    assert "No digest to show: nothing new for their next digest." in text(response)
    assert f"Their next digest: {WHEN}." in text(response)
    assert iframes(response) == []


def test_a_drafts_preview_for_a_digest_reader_shows_their_next_digest(
    admin_client, reader, draft, now
):
    page = admin_client.get(f"/admin/guide/version/{draft.pk}/change/")
    form = page_form(page, "/admin/subscriptions/subscriber/preview-as/")
    found = admin_client.get(form.action, {**form.data(), "email": reader.email}, follow=True)

    assert (
        "They get each release in their digest, not a mail of its own: The MLMW guide 0.10.1 "
        "(draft) is in their next digest if it is published before then."
    ) in text(found)
    [frame] = iframes(found)
    [(html, _)] = digest_mail.next_digest(reader).message.alternatives
    assert frame["srcdoc"] == html


def test_send_a_test_to_me_mails_the_digest_to_the_admin_alone_marked_as_a_test(
    admin_client, superuser, reader, now
):
    url = NEXT_DIGEST.format(reader.pk)
    form = page_form(admin_client.get(url), url + "send-test/")
    assert "csrfmiddlewaretoken" in form.names

    response = admin_client.post(form.action, form.data(), follow=True)

    assert f"Test sent to {superuser.email}." in text(response)
    [sent] = outbox.outbox
    assert sent.to == [superuser.email]
    assert sent.subject == f"[TEST] {digest_mail.next_digest(reader).message.subject}"
    assert "/manage/" not in sent.body and "/unsubscribe/" not in sent.body  # not the reader's
    assert "View in browser: http://testserver/mail-preview/digest/" in sent.body
    assert "List-Unsubscribe" not in sent.extra_headers
    assert (Mailing.objects.count(), Delivery.objects.count()) == (0, 0)


def test_the_send_test_button_is_a_csrf_protected_post(client, superuser, reader):
    client.force_login(superuser)
    client.handler.enforce_csrf_checks = True
    url = NEXT_DIGEST.format(reader.pk) + "send-test/"

    forged = client.post(url)
    fetched = client.get(url)

    assert forged.status_code == 403
    assert fetched.status_code == 302 and fetched["Location"] == NEXT_DIGEST.format(reader.pk)
    assert outbox.outbox == []
