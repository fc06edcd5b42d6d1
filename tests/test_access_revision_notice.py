"""A new revision is announced once to the holders of live links who asked, through the release
delivery pipeline (a mailing, batches, a delivery per grant), with a new personal link."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access import notices
from access.models import ArtifactRevision, Grant
from subscriptions.delivery import send
from subscriptions.models import Batch, Delivery, Mailing
from tests.conftest import NEW_BYTES, add_revision, grant_for, upload_revision
from tests.mails import mailed_path
from tests.pages import text


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_groups")
def test_holders_who_asked_get_one_notice_with_a_working_new_link(
    topic_list, reviewing_editor, smtp_server
):
    asked, old_token = grant_for(topic_list, "ann@example.org", notify_revisions=True)
    grant_for(topic_list, "bob@example.org")  # did not ask
    grant_for(topic_list, "cy@example.org", notify_revisions=True, revoked_at=timezone.now())
    expired, _ = grant_for(topic_list, "di@example.org", notify_revisions=True)
    Grant.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))

    upload_revision(reviewing_editor, topic_list, NEW_BYTES, "Added evals")

    assert [m.rcpt_tos for m in smtp_server.messages] == [("ann@example.org",)]
    (mail,) = smtp_server.messages
    assert mail.subject == "New revision of MDTP topic list"
    assert "What changed: Added evals" in mail.text
    assert mail.header("Auto-Submitted") == "auto-generated"
    assert mail.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"

    # The ledger: one mailing of the new kind, one delivery, for the grant, sent.
    revision = ArtifactRevision.objects.order_by("-created_at", "-pk").first()
    mailing = Mailing.objects.get(kind=Mailing.Kind.ACCESS_REVISION)
    assert revision.notice == mailing and mailing.status == Mailing.Status.DONE
    (delivery,) = Delivery.objects.filter(mailing=mailing)
    assert (delivery.grant, delivery.subscriber, delivery.status) == (asked, None, "sent")

    # The mailed link downloads the new revision; the old link was replaced.
    path = mailed_path(mail.text, "/access/")
    reader = Client()
    assert b"".join(reader.get(path + "file/").streaming_content) == NEW_BYTES
    assert reader.get(f"/access/{old_token}/file/").status_code == 410

    # Running the batch or the notice again sends nothing more.
    for batch in Batch.objects.filter(mailing=mailing):
        assert send(batch.pk) is None
    assert notices.revision_uploaded(revision.pk) is None
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_groups")
def test_the_mailing_admin_shows_notice_mailings_beside_releases(
    topic_list, reviewing_editor, superuser, smtp_server
):
    grant_for(topic_list, "ann@example.org", notify_revisions=True)
    upload_revision(reviewing_editor, topic_list, NEW_BYTES, "Added evals")
    mailing = Mailing.objects.get()
    admin = Client()
    admin.force_login(superuser)
    listing = admin.get(reverse("admin:subscriptions_mailing_changelist"))
    assert listing.status_code == 200
    assert "1 mailing" in text(listing)
    page = admin.get(reverse("admin:subscriptions_mailing_change", args=[mailing.pk]))
    assert page.status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_groups")
def test_one_click_stops_the_notices_of_one_grant(topic_list, reviewing_editor, smtp_server):
    grant, _ = grant_for(topic_list, "ann@example.org", notify_revisions=True)
    stop = reverse("access:stop_notices", args=[notices.stop_token(grant)])
    page = Client().get(stop)
    assert "Stop notices" in text(page)
    grant.refresh_from_db()
    assert grant.notify_revisions  # a GET (a mail scanner) changes nothing
    Client().post(stop, {"List-Unsubscribe": "One-Click"})
    grant.refresh_from_db()
    assert not grant.notify_revisions

    upload_revision(reviewing_editor, topic_list, NEW_BYTES, "")
    assert smtp_server.messages == []


@pytest.mark.worker
def test_a_real_worker_sends_the_notice_batches_once(topic_list, smtp_server, start_worker):
    from tests.services import wait_for

    for n in range(7):
        grant_for(topic_list, f"holder-{n}@example.org", notify_revisions=True)
    start_worker(
        TEST_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=smtp_server.host,
        EMAIL_PORT=str(smtp_server.port),
        MAIL_BATCH_SIZE="3",
    )
    revision = add_revision(topic_list, NEW_BYTES, note="Added evals")
    notices.revision_uploaded(revision.pk)  # commits (transactional test): its start goes to Redis

    mailing = Mailing.objects.get(kind=Mailing.Kind.ACCESS_REVISION)
    wait_for(
        lambda: Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.DONE).exists(),
        what="the notice mailing to finish",
    )
    assert Batch.objects.filter(mailing=mailing).count() == 3
    recipients = sorted(m.rcpt_tos[0] for m in smtp_server.messages)
    assert recipients == [f"holder-{n}@example.org" for n in range(7)]
    assert set(Delivery.objects.filter(mailing=mailing).values_list("status", flat=True)) == {
        "sent"
    }


def test_two_uploads_in_a_row_notify_once_of_the_newer(
    topic_list, mailoutbox, django_capture_on_commit_callbacks
):
    grant_for(topic_list, "ann@example.org", notify_revisions=True)
    with django_capture_on_commit_callbacks(
        execute=True
    ):  # both uploads commit before either starts
        first = add_revision(topic_list, NEW_BYTES, note="First")
        notices.revision_uploaded(first.pk)
        second = add_revision(topic_list, NEW_BYTES + b"- More\n", note="Second")
        notices.revision_uploaded(second.pk)

    (mail,) = mailoutbox
    assert "What changed: Second" in mail.body
    first.refresh_from_db()
    assert (first.notice.status, first.notice.audience_size) == (Mailing.Status.DONE, 0)
