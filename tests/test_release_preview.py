"""The release mail of a draft in the guide admin: its preview, and "Send a test to me"."""

from __future__ import annotations

import ast
import html

import pytest
from django.contrib.auth.models import Permission, User
from django.core import mail
from django.utils import timezone

from guide.catchup import catch_up
from subscriptions import addresses, emails, release_mail
from subscriptions.models import Delivery, Mailing, Subscriber
from tests.conftest import ROOT
from tests.forms import page_form, page_forms
from tests.pages import iframes, text

pytestmark = pytest.mark.django_db


def preview_url(version) -> str:
    return f"/admin/guide/version/{version.pk}/preview/"


def send_test_url(version) -> str:
    return f"/admin/guide/version/{version.pk}/send-test/"


def expected_mail(version) -> emails.RenderedMail:
    """The release mail as the preview shows it: personal links stand in as preview links."""
    variant = release_mail.preview(version)
    stand_in = {
        "manage_url": "http://testserver/mail-preview/",
        "unsubscribe_url": "http://testserver/mail-preview/one-click-unsubscribe/",
    }
    fill = {release_mail.marker(name): stand_in[name] for name in release_mail.PERSONAL_FIELDS}
    subject, body, markup = variant.subject, variant.text, variant.html
    for found, value in fill.items():
        subject, body, markup = (
            subject.replace(found, value),
            body.replace(found, value),
            markup.replace(found, value),
        )
    return emails.RenderedMail(subject=subject, text=body, html=markup)


@pytest.fixture
def reader(guide) -> Subscriber:
    """A confirmed subscriber of the guide: a test mail must never reach them."""
    made = Subscriber.objects.create(
        email="ann@example.org",
        email_key=addresses.key("ann@example.org"),
        status=Subscriber.Status.CONFIRMED,
        confirmed_at=timezone.now(),
    )
    made.guides.add(guide)
    return made


@pytest.fixture
def viewer(db) -> User:
    """Staff who may look at versions but not change them."""
    user = User.objects.create_user("vic", "vic@mlmw.example", "vic-password", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="guide", codename__in=["view_version", "view_guide"]
        )
    )
    return user


# --- The preview -------------------------------------------------------------------------------------


def test_the_preview_shows_the_release_mails_subject_and_the_counts_in_its_preview_text(
    editor_client, draft
):
    summary = catch_up(draft.previous(), draft).diff.summary()

    response = editor_client.get(preview_url(draft))

    assert response.status_code == 200
    assert summary  # e.g. "1 section added"
    assert "Subject: The MLMW guide 0.10.1: Release 0.10.1" in text(response)
    assert f"Preview text: {summary} since 0.10.0" in text(response)


def test_the_preview_shows_the_text_part_with_the_new_link(editor_client, draft):
    response = editor_client.get(preview_url(draft))
    body = response.content.decode()

    [pre] = [part for part in body.split("<pre")[1:] if 'class="email-text"' in part]
    shown = html.unescape(pre.partition(">")[2].partition("</pre>")[0])
    assert shown == expected_mail(draft).text
    assert "scikit-learn" in shown and "https://scikit-learn.org/" in shown
    assert "MLMWVAR" not in body  # no merge marker shows through


def test_the_html_part_is_shown_in_a_sandboxed_iframe_whose_srcdoc_is_the_escaped_mail(
    editor_client, draft
):
    expected = expected_mail(draft).html

    response = editor_client.get(preview_url(draft))

    [frame] = iframes(response)
    assert frame["sandbox"] in ("", None)  # present, with no permission granted
    assert frame["srcdoc"] == expected  # what the browser renders is exactly the mail
    assert f'srcdoc="{html.escape(expected)}"' in response.content.decode()
    assert "scikit-learn" in frame["srcdoc"] and "<h1" in frame["srcdoc"]


# --- Send a test to me -------------------------------------------------------------------------------


def test_send_a_test_to_me_mails_the_release_to_the_editor_alone_marked_as_a_test(
    editor_client, editor, draft, reader
):
    form = page_form(editor_client.get(preview_url(draft)), send_test_url(draft))
    assert "csrfmiddlewaretoken" in form.names

    response = editor_client.post(form.action, form.data(), follow=True)

    assert "Test sent to edna@mlmw.example." in text(response)
    [message] = mail.outbox
    assert message.to == [editor.email] and not message.cc and not message.bcc
    assert message.subject == f"[TEST] {expected_mail(draft).subject}"
    assert "List-Unsubscribe" not in message.extra_headers
    assert "List-Unsubscribe-Post" not in message.extra_headers
    assert "scikit-learn" in message.body
    [(markup, kind)] = message.alternatives
    assert kind == "text/html" and "scikit-learn" in markup
    assert (Mailing.objects.count(), Delivery.objects.count()) == (0, 0)


def test_the_send_test_button_is_a_csrf_protected_post(client, editor, draft):
    client.force_login(editor)
    client.handler.enforce_csrf_checks = True

    forged = client.post(send_test_url(draft))
    fetched = client.get(send_test_url(draft))

    assert forged.status_code == 403
    assert fetched.status_code == 302 and fetched["Location"] == preview_url(draft)
    assert mail.outbox == []


def test_someone_who_may_not_change_versions_cannot_send_a_test(client, viewer, draft):
    client.force_login(viewer)

    page = client.get(preview_url(draft))
    response = client.post(send_test_url(draft))

    assert page.status_code == 200 and "Subject: The MLMW guide 0.10.1: Release 0.10.1" in text(
        page
    )
    assert not [f for f in page_forms(page) if f.action == send_test_url(draft)]
    assert response.status_code == 403
    assert mail.outbox == []


def test_a_user_without_an_email_address_is_told_so_and_nothing_is_sent(
    editor_client, editor, draft
):
    User.objects.filter(pk=editor.pk).update(email="")

    response = editor_client.post(send_test_url(draft), follow=True)

    assert "No test sent: your account has no email address." in text(response)
    assert mail.outbox == []


def test_the_guide_admin_reaches_the_release_mail_through_its_public_preview_alone():
    tree = ast.parse((ROOT / "guide" / "admin.py").read_text())

    imported = [
        f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "release_mail"
    }

    assert [name for name in imported if name.startswith("subscriptions")] == [
        "subscriptions.release_mail"
    ]
    assert used == {"example", "send_test"}
