"""A grant whose link mail never got through can be mailed a new link from the admin ("Resend link",
on grants and on requests): the same task as approval, so the same guarantees (the earlier links
work until the ESP accepts the new mail). Mail goes through anymail's Mailgun backend to the fake ESP."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access import lifecycle
from access.models import AccessRequest, Grant
from mlmw.celery import app
from tests.conftest import TOPIC_LIST_BYTES, grant_for
from tests.mails import mailed_path
from tests.pages import text

pytestmark = pytest.mark.django_db

HOLDER = "ann@example.org"
SUBJECT = "Your download link for MDTP topic list"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def esp(mailgun_here):
    return mailgun_here


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a callable, then what its commit sets off (the mail tasks, eagerly)."""

    def run(action):
        with django_capture_on_commit_callbacks(execute=True):
            return action()

    return run


def download(token: str) -> int:
    response = Client().get(f"/access/{token}/file/")
    if response.status_code == 200:
        assert b"".join(response.streaming_content) == TOPIC_LIST_BYTES
    return response.status_code


def link_in(message) -> str:
    return mailed_path(message.text, "/access/").removeprefix("/access/").strip("/")


def resend(client: Client, model: str, pks: list[int]):
    return client.post(
        reverse(f"admin:access_{model}_changelist"),
        {"action": "resend_link", "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


def test_a_grant_link_mail_out_of_retries_is_resent_from_the_admin_and_its_link_works(
    topic_list, esp, admin_client, committed, superuser, monkeypatch
):
    request = AccessRequest.objects.create(
        artifact=topic_list, email=HOLDER, email_key=HOLDER, status="pending"
    )
    # The approval mail's task and its five retries (run at once: eager tasks) all get a 503.
    esp.script([("status", 503)] * 6)
    monkeypatch.setitem(app.conf, "task_eager_propagates", False)
    committed(lambda: lifecycle.approve(request, by=superuser))
    assert [a.status for a in esp.attempts] == [503] * 6
    grant = Grant.objects.get()
    assert grant.link_sent_at is None  # the admin shows it was never mailed

    page = committed(lambda: resend(admin_client, "grant", [grant.pk]))

    assert "Mailed a new link to 1 holder." in text(page)
    (mail,) = esp.messages
    assert (mail.to, mail.subject) == (HOLDER, SUBJECT)
    assert download(link_in(mail)) == 200
    grant.refresh_from_db()
    assert grant.link_sent_at is not None


def test_resending_from_the_requests_admin_replaces_the_earlier_link_once_accepted(
    topic_list, esp, admin_client, committed
):
    grant, earlier = grant_for(topic_list, HOLDER)

    committed(lambda: resend(admin_client, "accessrequest", [grant.request_id]))

    (mail,) = esp.messages_to(HOLDER)
    assert mail.subject == SUBJECT
    assert download(link_in(mail)) == 200
    assert download(earlier) == 410  # the new mail was accepted: the older link is replaced


def test_a_resend_the_esp_does_not_take_leaves_the_earlier_link_working(
    topic_list, esp, admin_client, committed, monkeypatch
):
    grant, earlier = grant_for(topic_list, HOLDER)
    esp.script([("status", 503)] * 6)
    monkeypatch.setitem(app.conf, "task_eager_propagates", False)

    committed(lambda: resend(admin_client, "grant", [grant.pk]))

    assert esp.messages == []
    assert download(earlier) == 200


def test_grants_that_are_not_live_get_no_link(topic_list, esp, admin_client, committed):
    revoked, _ = grant_for(topic_list, HOLDER, revoked_at=timezone.now())
    live, _ = grant_for(topic_list, "bo@example.org")

    page = committed(lambda: resend(admin_client, "grant", [revoked.pk, live.pk]))

    assert [m.to for m in esp.messages] == ["bo@example.org"]
    assert (
        "Mailed a new link to 1 holder. 1 not live (revoked, expired or used up) got none."
        in text(page)
    )


def test_requests_without_a_live_grant_get_no_link(topic_list, esp, admin_client, committed):
    pending = AccessRequest.objects.create(
        artifact=topic_list, email=HOLDER, email_key=HOLDER, status="pending"
    )
    approved, _ = grant_for(topic_list, "bo@example.org")

    page = committed(
        lambda: resend(admin_client, "accessrequest", [pending.pk, approved.request_id])
    )

    assert [m.to for m in esp.messages] == ["bo@example.org"]
    assert "1 without a live grant (not approved, or revoked, expired or used up) got none." in (
        text(page)
    )
