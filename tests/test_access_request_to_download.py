"""A reader's whole way to an artifact over real HTTP, with every mail caught by a real SMTP server:

guide page table → request form → "Check your inbox" → verification mail → Verify button → an editor
approves in the admin (with a message) → the link mail → the download (bytes, headers, log row).
The database is transactional, so requests commit and their on-commit mail tasks really run.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from access.models import AccessRequest, Download, Grant, GrantToken
from subscriptions.models import Subscriber, SubscriberEvent
from tests.conftest import TOPIC_LIST_BYTES
from tests.forms import page_form
from tests.mails import mailed_path
from tests.pages import links, text

BROWSER_IP = "203.0.113.9"
BROWSER_UA = "Mozilla/5.0 access journey"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


def request_and_verify(browser: Client, artifact, smtp_server, **choices) -> AccessRequest:
    page = browser.get(artifact.guide.get_absolute_url())
    assert ("Request access", artifact.get_request_url()) in links(page)
    form_page = browser.get(artifact.get_request_url())
    form = page_form(form_page, artifact.get_request_url())
    assert {"email", "name", "reason", "want_updates", "want_revisions", "website"} <= set(
        form.names
    )
    answer = browser.post(
        form.action,
        form.data(email=["ann@example.org"], name=["Ann"], reason=["For my ML course."], **choices),
    )
    assert answer.status_code == 200
    assert "Check your inbox" in text(answer)

    (mail,) = smtp_server.to("ann@example.org")
    assert mail.subject == "Verify your request for MDTP topic list"
    assert mail.header("Auto-Submitted") == "auto-generated"
    path = mailed_path(mail.text, "/access/verify/")
    assert path in mail.html
    page = browser.get(path)
    assert "Verify my request" in text(page)
    assert AccessRequest.objects.get().status == "unverified"  # a GET (a mail scanner) does nothing
    verified = browser.post(page_form(page, path).action, page_form(page, path).data())
    assert verified.status_code == 200
    return AccessRequest.objects.get()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_groups")
def test_a_reader_requests_verifies_is_approved_and_downloads_the_file(
    topic_list, reviewing_editor, smtp_server
):
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR=BROWSER_IP, HTTP_USER_AGENT=BROWSER_UA)
    request = request_and_verify(browser, topic_list, smtp_server)
    assert request.status == "pending"
    assert (request.name, request.reason) == ("Ann", "For my ML course.")
    assert (request.verified_ip, request.verified_user_agent) == (BROWSER_IP, BROWSER_UA)
    assert not Subscriber.objects.exists()  # no updates box ticked: no subscription

    # The editor approves it in the admin, through the intermediate page with a message.
    editor = Client()
    editor.force_login(reviewing_editor)
    changelist = reverse("admin:access_accessrequest_changelist")
    listing = editor.get(changelist + "?status__exact=pending")
    assert "ann@example.org" in text(listing)
    action = {"action": "approve_selected", "_selected_action": [str(request.pk)]}
    confirm = editor.post(changelist, action)
    assert confirm.status_code == 200
    assert "Approve 1 request?" in text(confirm)
    done = editor.post(changelist, {**action, "post": "yes", "message": "Enjoy the list!"})
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == "approved"
    assert request.decided_by == reviewing_editor
    grant = Grant.objects.get()
    assert grant.max_downloads == 20
    assert (grant.expires_at - grant.created_at).days == 30

    link_mail = smtp_server.to("ann@example.org")[-1]
    assert link_mail.subject == "Your download link for MDTP topic list"
    assert "Enjoy the list!" in link_mail.text
    assert link_mail.header("Auto-Submitted") == "auto-generated"
    assert link_mail.header("List-Unsubscribe") is None  # not a list mail
    download_path = mailed_path(link_mail.text, "/access/")
    token = download_path.removeprefix("/access/").strip("/")
    assert "ann" not in token.lower() and str(request.pk) not in token.split("-")
    assert token not in GrantToken.objects.values_list("token_hash", flat=True)  # only hashed
    assert grant.tokens.get().mailed_at is not None  # the mail went out: recorded with its link

    # The link opens a page about the file (counting nothing), whose button downloads it.
    link_page = browser.get(download_path)
    assert link_page.status_code == 200
    assert "Downloads left20 of 20" in text(link_page)
    assert (download_path + "file/") in link_page.content.decode()
    assert not Download.objects.exists()
    response = browser.get(download_path + "file/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == TOPIC_LIST_BYTES
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="mdtp-topic-list.md"'
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Length"] == str(len(TOPIC_LIST_BYTES))
    (logged,) = Download.objects.all()
    assert (logged.grant, logged.ip, logged.user_agent) == (grant, BROWSER_IP, BROWSER_UA)
    grant.refresh_from_db()
    assert grant.download_count == 1

    # The download log shows on the grant in the admin.
    grant_page = editor.get(reverse("admin:access_grant_change", args=[grant.pk]))
    assert BROWSER_IP in text(grant_page)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_groups")
def test_ticking_guide_updates_subscribes_the_address_with_the_same_click_as_consent(
    topic_list, smtp_server
):
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR=BROWSER_IP, HTTP_USER_AGENT=BROWSER_UA)
    request_and_verify(browser, topic_list, smtp_server, want_updates=["on"])

    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert list(subscriber.guides.all()) == [topic_list.guide]
    assert (subscriber.consent_ip, subscriber.consent_user_agent) == (BROWSER_IP, BROWSER_UA)
    assert subscriber.consent_at is not None
    assert subscriber.source == "access-mlmw"
    assert subscriber.events.filter(kind=SubscriberEvent.Kind.CONFIRMED).exists()
    # One mail only: the verification. No separate subscription confirmation.
    assert len(smtp_server.to("ann@example.org")) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_groups")
def test_a_denied_reader_gets_a_polite_note_with_the_editors_message(
    topic_list, reviewing_editor, smtp_server
):
    browser = Client(enforce_csrf_checks=True)
    request = request_and_verify(browser, topic_list, smtp_server)
    editor = Client()
    editor.force_login(reviewing_editor)
    changelist = reverse("admin:access_accessrequest_changelist")
    editor.post(
        changelist,
        {
            "action": "deny_selected",
            "_selected_action": [str(request.pk)],
            "post": "yes",
            "message": "The list is for course members only.",
        },
    )
    request.refresh_from_db()
    assert request.status == "denied"
    assert not Grant.objects.exists()
    note = smtp_server.to("ann@example.org")[-1]
    assert note.subject == "About your request for MDTP topic list"
    assert "The list is for course members only." in note.text
    assert "The list is for course members only." in note.html
    assert "/access/" not in note.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_groups")
def test_the_verification_link_works_once(topic_list, smtp_server):
    browser = Client()
    request_and_verify(browser, topic_list, smtp_server)
    path = mailed_path(smtp_server.to("ann@example.org")[0].text, "/access/verify/")
    again = browser.post(path)
    assert again.status_code == 410
    assert "already used" in text(again)
    assert "Request again" in text(again)


def test_editors_see_only_requests_for_guides_they_review_and_admins_see_all(
    topic_list, editor, list_admin, client
):
    from guide.models import Guide
    from tests.conftest import make_artifact

    other = make_artifact(Guide.objects.create(slug="mdtp", title="MDTP"), "Other list")
    AccessRequest.objects.create(
        artifact=topic_list, email="a@example.org", email_key="a@example.org"
    )
    AccessRequest.objects.create(artifact=other, email="b@example.org", email_key="b@example.org")
    changelist = reverse("admin:access_accessrequest_changelist")

    client.force_login(editor)  # an editor who reviews no guide yet
    assert "a@example.org" not in text(client.get(changelist))
    from access.models import Reviewer

    Reviewer.objects.create(guide=topic_list.guide, user=editor)
    page = text(client.get(changelist))
    assert "a@example.org" in page and "b@example.org" not in page

    client.force_login(list_admin)
    page = text(client.get(changelist))
    assert "a@example.org" in page and "b@example.org" in page
    assert User.objects.get(username="ada").has_perm("access.review_all")
