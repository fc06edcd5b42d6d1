"""A "new revision" notice the ESP refuses for one holder fails for that holder alone, at once, and
the other holders in the batch get theirs: access notices classify send errors as release mail does
(subscriptions.sending.send_one), through a real worker, anymail's Mailgun backend and the fake ESP."""

from __future__ import annotations

import pytest

from access import notices
from subscriptions import audience, delivery
from subscriptions.models import Batch, Delivery, Mailing
from tests.conftest import NEW_BYTES, add_revision, grant_for
from tests.esp import esp_worker_env
from tests.services import wait_for

REFUSED = "holder-1@example.org"


@pytest.mark.worker
def test_a_holder_the_esp_refuses_fails_at_once_and_the_rest_of_the_batch_is_sent(
    fake_esp, start_worker, topic_list
):
    for n in range(3):
        grant_for(topic_list, f"holder-{n}@example.org", notify_revisions=True)
    fake_esp.refuse(REFUSED)  # every time: retrying cannot help
    start_worker(concurrency=1, **esp_worker_env(fake_esp, MAIL_BATCH_MAX_ATTEMPTS=3))

    revision = add_revision(topic_list, NEW_BYTES, note="Added evals")
    notices.revision_uploaded(revision.pk)
    wait_for(
        lambda: Mailing.objects.filter(kind=Mailing.Kind.ACCESS_REVISION, status="done").first(),
        what="the notice mailing to finish",
    )

    assert sorted(fake_esp.recipients()) == ["holder-0@example.org", "holder-2@example.org"]
    assert fake_esp.duplicate_recipients() == {}
    assert [a.to for a in fake_esp.attempts if a.status == 400] == [[REFUSED]]  # asked once
    (batch,) = Batch.objects.all()
    assert (batch.status, batch.attempts) == (Batch.Status.DONE, 1)
    statuses = {
        d.grant.request.email: (d.status, d.error)
        for d in Delivery.objects.select_related("grant__request")
    }
    assert statuses["holder-0@example.org"] == ("sent", "")
    assert statuses["holder-2@example.org"] == ("sent", "")
    status, error = statuses[REFUSED]
    assert status == "failed"
    assert error.startswith("ESP answered 400")
    assert "example.org" not in error and "<address>" in error  # the ledger keeps no address


@pytest.mark.django_db
def test_an_esp_that_refuses_the_account_fails_the_batch_after_one_call(
    topic_list, settings, django_capture_on_commit_callbacks
):
    # 401 (a wrong key) would be the answer to every holder's message: it is not theirs to fail.
    from fakes.mailgun import FakeMailgun
    from tests.esp import use_mailgun

    for n in range(3):
        grant_for(topic_list, f"holder-{n}@example.org", notify_revisions=True)
    with FakeMailgun() as esp:
        use_mailgun(settings, esp.api_url, MAILGUN_API_KEY="key-wrong", REQUESTS_TIMEOUT=10)
        revision = add_revision(topic_list, NEW_BYTES)
        with django_capture_on_commit_callbacks(execute=True):
            notices.revision_uploaded(revision.pk)

    assert [a.status for a in esp.attempts] == [401]
    (batch,) = Batch.objects.all()
    assert (batch.status, batch.attempts) == (Batch.Status.DONE, 1)
    errors = set(Delivery.objects.values_list("status", "error"))
    assert len(errors) == 1
    ((status, error),) = errors
    assert status == "failed" and error.startswith("ESP answered 401")


@pytest.mark.django_db
def test_a_greylisted_holder_stays_queued_and_gets_the_notice_once_on_the_retry(
    topic_list, smtp_server, settings
):
    settings.MAIL_SEND_RATE = 0
    for n in range(3):
        grant_for(topic_list, f"holder-{n}@example.org", notify_revisions=True)
    smtp_server.answer("RCPT", "holder-1@example.org", "450 4.2.0 greylisted, try later")
    revision = add_revision(topic_list, NEW_BYTES, note="Added evals")
    notices.revision_uploaded(revision.pk)  # opens the notice mailing; its start task is ours
    mailing = Mailing.objects.get(kind=Mailing.Kind.ACCESS_REVISION)
    audience.start(mailing.pk)
    (batch,) = Batch.objects.filter(mailing=mailing)

    assert delivery.send(batch.pk) is not None  # retried later, for the one deferred holder
    first = sorted(a for m in smtp_server.messages for a in m.rcpt_tos)
    assert first == ["holder-0@example.org", "holder-2@example.org"]
    Batch.objects.filter(pk=batch.pk).update(enqueued_at=None)
    assert delivery.send(batch.pk) is None

    received = [a for m in smtp_server.messages for a in m.rcpt_tos]
    assert sorted(received) == [f"holder-{n}@example.org" for n in range(3)]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
