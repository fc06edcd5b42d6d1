"""Preview as a subscriber, in the admin: the mail a subscriber would get next of a draft, built by
release_mail.next_mail_for through the fan-out's own steps (their baseline's variant, their links),
is byte for byte the message the fan-out then sends them but for Message-ID and Date. The admin
reaches it from the subscriber's page and from the draft's page, sees HTML and text, is told when
the subscriber would get nothing and why, and can send a test to themselves alone."""

from __future__ import annotations

import pytest
from django.core import mail as outbox

from guide import publishing
from subscriptions import release_mail
from subscriptions.models import Delivery, Mailing, Subscriber
from tests.conftest import make_subscribers
from tests.csp import policy
from tests.forms import page_form
from tests.mails import comparable
from tests.pages import iframes, links, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(guide, v0_9_0, v0_10_0, settings) -> Subscriber:
    """Last mailed 0.9.0: their next mail, of the draft 0.10.1, catches up over 0.10.0."""
    settings.MAIL_SEND_RATE = 0
    settings.MAIL_MERGE_PLACEHOLDER = ""  # one message per reader, as SMTP sends them
    [made] = make_subscribers(guide, "reader", 1, baseline=v0_9_0)
    return made


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def next_mail_url(subscriber, version) -> str:
    return f"/admin/subscriptions/subscriber/{subscriber.pk}/next-mail/{version.pk}/"


def test_the_preview_is_byte_for_byte_the_mail_the_fan_out_then_sends(
    reader, draft, mailoutbox, django_capture_on_commit_callbacks
):
    preview = release_mail.next_mail_for(reader, draft)
    assert preview is not None

    with django_capture_on_commit_callbacks(execute=True):
        publishing.publish(draft)

    # The message the fan-out handed to the mail backend, serialised as the SMTP backend does.
    [sent] = [m for m in mailoutbox if m.to == [reader.email]]
    assert Delivery.objects.get(subscriber=reader).status == Delivery.Status.SENT
    on_the_wire = sent.message().as_bytes(linesep="\r\n")
    assert comparable(on_the_wire) == comparable(preview.message().as_bytes(linesep="\r\n"))
    assert "and 1 earlier release" in sent.subject  # the catch-up from their baseline, 0.9.0


def test_the_subscriber_page_leads_to_the_html_and_text_of_their_next_mail(
    admin_client, reader, draft
):
    page = admin_client.get(f"/admin/subscriptions/subscriber/{reader.pk}/change/")
    assert ("The mail of The MLMW guide 0.10.1 (draft)", next_mail_url(reader, draft)) in links(
        page
    )
    message = release_mail.next_mail_for(reader, draft)

    response = admin_client.get(next_mail_url(reader, draft))

    assert response.status_code == 200
    assert f"Subject: {message.subject}" in text(response)
    [(html, _)] = message.alternatives
    [frame] = iframes(response)
    assert frame["sandbox"] in ("", None) and frame["srcdoc"] == html
    assert message.body.split("\n")[0] in text(response)
    directives = policy(response)
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert directives["script-src"] == ["'self'"]


def test_the_draft_page_previews_the_mail_of_a_subscriber_named_by_address(
    admin_client, reader, draft
):
    page = admin_client.get(f"/admin/guide/version/{draft.pk}/change/")
    form = page_form(page, "/admin/subscriptions/subscriber/preview-as/")

    found = admin_client.get(form.action, {**form.data(), "email": "Reader-00@Example.org"})
    unknown = admin_client.get(
        form.action, {**form.data(), "email": "nobody@example.org"}, follow=True
    )

    assert found.status_code == 302 and found["Location"] == next_mail_url(reader, draft)
    assert "No subscriber has the address 'nobody@example.org'." in text(unknown)


def test_a_reader_whose_cadence_leaves_the_release_out_is_shown_no_mail_and_why(
    admin_client, reader, draft
):
    Subscriber.objects.filter(pk=reader.pk).update(cadence="major")
    reader.refresh_from_db()

    response = admin_client.get(next_mail_url(reader, draft))

    assert release_mail.next_mail_for(reader, draft) is None
    assert (
        "They would get no mail of 0.10.1: 0.10.1 is a patch release and they chose major "
        "releases only." in text(response)
    )
    assert iframes(response) == []


def test_send_a_test_to_me_mails_the_admin_alone_marked_as_a_test(
    admin_client, superuser, reader, draft
):
    form = page_form(
        admin_client.get(next_mail_url(reader, draft)), next_mail_url(reader, draft) + "send-test/"
    )
    assert "csrfmiddlewaretoken" in form.names

    response = admin_client.post(form.action, form.data(), follow=True)

    assert f"Test sent to {superuser.email}." in text(response)
    [sent] = outbox.outbox
    assert sent.to == [superuser.email]
    assert sent.subject == f"[TEST] {release_mail.next_mail_for(reader, draft).subject}"
    assert "/manage/" not in sent.body and "/unsubscribe/" not in sent.body  # not the reader's
    assert "List-Unsubscribe" not in sent.extra_headers
    assert (Mailing.objects.count(), Delivery.objects.count()) == (0, 0)


def test_the_send_test_button_is_a_csrf_protected_post(client, superuser, reader, draft):
    client.force_login(superuser)
    client.handler.enforce_csrf_checks = True
    url = next_mail_url(reader, draft) + "send-test/"

    forged = client.post(url)
    fetched = client.get(url)

    assert forged.status_code == 403
    assert fetched.status_code == 302 and fetched["Location"] == next_mail_url(reader, draft)
    assert outbox.outbox == []


def test_a_filtered_readers_preview_is_the_filtered_mail_the_fan_out_then_sends(
    reader, draft, v0_10_0, mailoutbox, django_capture_on_commit_callbacks
):
    # The reader wants only the kinds of one entry of the catch-up (0.10.0 and the draft 0.10.1).
    kind = draft.entries.first().kind
    Subscriber.objects.filter(pk=reader.pk).update(kinds=kind)
    reader.refresh_from_db()
    preview = release_mail.next_mail_for(reader, draft)
    assert preview is not None
    assert "Showing only:" in preview.body

    with django_capture_on_commit_callbacks(execute=True):
        publishing.publish(draft)

    [sent] = [m for m in mailoutbox if m.to == [reader.email]]
    on_the_wire = sent.message().as_bytes(linesep="\r\n")
    assert comparable(on_the_wire) == comparable(preview.message().as_bytes(linesep="\r\n"))


def test_a_reader_whose_filters_match_nothing_is_previewed_as_getting_nothing(
    reader, draft, django_capture_on_commit_callbacks
):
    present = set(draft.entries.values_list("kind", flat=True)) | set(
        draft.previous().entries.values_list("kind", flat=True)
    )
    [absent] = sorted({"added", "changed", "deprecated", "removed", "fixed", "security"} - present)[
        :1
    ]
    Subscriber.objects.filter(pk=reader.pk).update(kinds=absent)
    reader.refresh_from_db()

    assert release_mail.next_mail_for(reader, draft) is None
    assert "matches their filters" in release_mail.left_out(reader, draft)

    with django_capture_on_commit_callbacks(execute=True):
        publishing.publish(draft)
    assert Delivery.objects.get(subscriber=reader).status == Delivery.Status.SKIPPED
