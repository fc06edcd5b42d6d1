"""A holder always has a working link: a mail with a new link replaces the earlier links only once the
ESP accepted it. A notice or grant-link mail that fails, or whose answer was lost, leaves every link
the holder may have received working; revocation, expiry and the download cap still hold for all of a
grant's links together. Mail goes through anymail's Mailgun backend to the fake ESP, in-process."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client

from access import lifecycle, notices
from access.models import Grant
from access.tasks import send_grant_link
from subscriptions.exceptions import SendFailure
from subscriptions.models import Delivery
from tests.conftest import NEW_BYTES, add_revision, grant_for
from tests.mails import mailed_path

pytestmark = pytest.mark.django_db

HOLDER = "ann@example.org"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def esp(mailgun_here, settings):
    settings.MAIL_BATCH_MAX_ATTEMPTS = 2
    return mailgun_here


@pytest.fixture
def notify(topic_list, django_capture_on_commit_callbacks):
    """Upload a new revision and run its notice to the end (eager tasks, retries at once)."""

    def run() -> None:
        revision = add_revision(topic_list, NEW_BYTES, note="Added evals")
        with django_capture_on_commit_callbacks(execute=True):
            notices.revision_uploaded(revision.pk)

    return run


def works(token: str) -> bool:
    """Whether the link downloads the file now (a download counts against the cap)."""
    response = Client().get(f"/access/{token}/file/")
    if response.status_code == 200:
        assert b"".join(response.streaming_content).startswith(b"# MDTP topic list")
        return True
    assert response.status_code == 410
    return False


def mailed_tokens(esp, address: str = HOLDER) -> list[str]:
    """The token of each link the ESP accepted for `address`, oldest first."""
    return [
        mailed_path(message.text, "/access/").removeprefix("/access/").strip("/")
        for message in esp.messages_to(address)
    ]


def test_a_notice_the_esp_never_accepts_leaves_the_earlier_link_working(topic_list, esp, notify):
    _, earlier = grant_for(topic_list, HOLDER, notify_revisions=True)
    esp.script([("status", 503), ("status", 503)])  # both attempts

    notify()

    assert Delivery.objects.get().status == "failed"
    assert esp.messages == []
    assert works(earlier)


def test_a_link_whose_mail_the_esp_took_without_our_knowing_keeps_working(topic_list, esp, notify):
    _, earlier = grant_for(topic_list, HOLDER, notify_revisions=True)
    # The ESP accepts the first notice but the answer is lost; the retry is refused for now.
    esp.script([("ok_then_drop",), ("status", 503)])

    notify()

    assert Delivery.objects.get().status == "failed"
    (unacknowledged,) = mailed_tokens(esp)
    assert works(unacknowledged)  # it is in the holder's inbox
    assert works(earlier)  # no newer mail is known to have arrived


def test_once_a_newer_mail_is_accepted_the_earlier_links_stop_working(topic_list, esp, notify):
    grant, earlier = grant_for(topic_list, HOLDER, notify_revisions=True)
    esp.script([("ok_then_drop",), "ok"])  # the retry's answer arrives

    notify()

    assert Delivery.objects.get().status == "sent"
    unacknowledged, newest = mailed_tokens(esp)
    assert works(newest)
    assert not works(unacknowledged) and not works(earlier)
    grant.refresh_from_db()
    assert grant.link_sent_at is not None


def test_a_grant_link_mail_that_fails_leaves_the_earlier_link_working(topic_list, esp):
    grant, earlier = grant_for(topic_list, HOLDER)
    esp.script([("status", 503)])

    with pytest.raises(SendFailure):  # not permanent: the task is retried later (MAIL_TASK_RETRY)
        send_grant_link.run(grant.pk)

    assert esp.messages == []
    assert works(earlier)


def test_revocation_expiry_and_the_cap_hold_for_every_link_of_a_grant(topic_list, esp, notify):
    grant, earlier = grant_for(topic_list, HOLDER, notify_revisions=True)
    Grant.objects.filter(pk=grant.pk).update(max_downloads=3)
    esp.script([("ok_then_drop",), ("status", 503)])
    notify()
    (unacknowledged,) = mailed_tokens(esp)

    # One cap for the grant, whichever link is used.
    assert works(earlier) and works(unacknowledged) and works(earlier)
    assert not works(unacknowledged) and not works(earlier)
    grant.refresh_from_db()
    assert grant.download_count == 3

    Grant.objects.filter(pk=grant.pk).update(max_downloads=10)
    with time_machine.travel(grant.expires_at + timedelta(seconds=1), tick=False):
        assert not works(earlier) and not works(unacknowledged)
    lifecycle.revoke([grant])
    assert not works(earlier) and not works(unacknowledged)


def test_no_link_is_stored_in_plain_text(topic_list, esp, notify):
    grant_for(topic_list, HOLDER, notify_revisions=True)
    notify()
    (token,) = mailed_tokens(esp)

    with connection.cursor() as cursor:
        for table in ("access_grant", "access_granttoken"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed names
            assert token not in repr(cursor.fetchall())


def test_the_mail_the_esp_accepts_last_keeps_its_link_even_if_issued_first(topic_list, esp):
    # Two mails in flight for one grant (a resend while a notice is sending, two workers): the
    # newer link's mail is accepted first, then the older one's, which lands last in the inbox.
    grant, earlier = grant_for(topic_list, HOLDER)
    first = lifecycle.issue_link(grant.pk)
    second = lifecycle.issue_link(grant.pk)

    lifecycle.link_mailed(second)
    lifecycle.link_mailed(first)

    assert works(first.token)
    assert not works(second.token) and not works(earlier)
    assert grant.tokens.count() == 1


def test_a_link_accepted_after_its_grant_was_erased_stores_nothing(topic_list, esp):
    grant, _ = grant_for(topic_list, HOLDER)
    link = lifecycle.issue_link(grant.pk)
    grant.request.delete()

    lifecycle.link_mailed(link)

    assert not Grant.objects.filter(pk=grant.pk).exists()


def test_a_grant_link_mail_refused_for_good_is_not_retried_and_the_earlier_link_works(
    topic_list, esp, caplog
):
    grant, earlier = grant_for(topic_list, HOLDER)
    esp.refuse(HOLDER)

    assert send_grant_link.run(grant.pk) is False  # no exception: nothing for autoretry to repeat

    assert [a.status for a in esp.attempts] == [400]
    assert works(earlier)
    assert grant.tokens.count() == 2  # the new link waits, unmailed, for a resend to replace it
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "subscriptions.sending"]
    assert "was not sent, for good" in logged and HOLDER not in logged
