"""Sending a release again, from its mailing's page, to everyone who did not receive it.

The mailing is made as publishing makes it and sent in-process (eager tasks, locmem mail): the
button opens a resend mailing with a new delivery per recipient who failed or was never sent it
(its mailing cancelled), claimed and sent like any batch. The workers' side (a real worker, the
fake Mailgun, a SIGKILL mid-resend) is tests/test_resend_worker.py.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from guide import publishing
from guide.models import Version
from subscriptions import audience, delivery, lifecycle
from subscriptions.models import Baseline, Delivery, Mailing
from tests.conftest import make_subscribers
from tests.pages import text

MAILINGS = "/admin/subscriptions/mailing/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(draft, v0_10_0):
    return make_subscribers(draft.guide, "reader", 4, baseline=v0_10_0)


def started_mailing(version: Version) -> Mailing:
    publishing.publish(version)
    mailing = Mailing.objects.get(version=version)
    audience.start(mailing.pk)
    return mailing


def sent_with_outcomes(version: Version, outcomes: dict[str, str]) -> Mailing:
    """The mailing of `version`, its deliveries ended as `outcomes` says (address → status)."""
    mailing = started_mailing(version)
    for address, status in outcomes.items():
        error = {"failed": "ESP answered 400", "skipped": delivery.CANCELLED}.get(status, "")
        mailing.deliveries.filter(subscriber__email=address).update(status=status, error=error)
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.DONE)
    mailing.batches.update(status="done")
    return mailing


def press_resend(client, mailing: Mailing, capture, confirm: bool = True):
    with capture(execute=True):
        return client.post(
            f"{MAILINGS}{mailing.pk}/resend/", {"confirm": "yes"} if confirm else {}, follow=True
        )


def test_the_failed_and_the_never_sent_are_sent_the_release_again_and_nobody_else(
    list_admin_client, draft, readers, django_capture_on_commit_callbacks
):
    ann, bob, cy, dee = readers
    mailing = sent_with_outcomes(
        draft, {ann.email: "sent", bob.email: "failed", cy.email: "skipped", dee.email: "bounced"}
    )

    response = press_resend(list_admin_client, mailing, django_capture_on_commit_callbacks)

    assert "Sending mlmw 0.10.1 again to 2 recipient(s) who did not receive it." in text(response)
    assert sorted(m.to[0] for m in mail.outbox) == [bob.email, cy.email]
    assert all(m.subject.startswith("The MLMW guide 0.10.1: ") for m in mail.outbox)
    [again] = mailing.resends.all()
    assert (again.kind, again.status, again.audience_size) == ("resend", "done", 2)
    # A new attempt row each; the original rows keep what happened to them.
    assert sorted(again.deliveries.values_list("subscriber__email", "status")) == [
        (bob.email, "sent"),
        (cy.email, "sent"),
    ]
    assert mailing.deliveries.get(subscriber=bob).status == "failed"
    # Their baselines move as for any release mail; ann's was moved by her own delivery (not here).
    assert set(Baseline.objects.filter(version=draft).values_list("subscriber", flat=True)) == {
        bob.pk,
        cy.pk,
    }


def test_pressing_it_twice_sends_nobody_a_second_copy(
    list_admin_client, draft, readers, django_capture_on_commit_callbacks
):
    mailing = sent_with_outcomes(draft, {r.email: "failed" for r in readers})

    press_resend(list_admin_client, mailing, django_capture_on_commit_callbacks)
    second = press_resend(list_admin_client, mailing, django_capture_on_commit_callbacks)

    assert "Nobody to send mlmw 0.10.1 to again" in text(second)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in readers)
    assert mailing.resends.count() == 1


def test_pressed_while_the_first_resend_is_still_queued_it_sends_nobody_twice(
    list_admin_client, draft, readers, django_capture_on_commit_callbacks
):
    mailing = sent_with_outcomes(draft, {r.email: "failed" for r in readers})
    # The first press's batches not sent yet (their tasks wait on the broker).
    with django_capture_on_commit_callbacks(execute=False):
        list_admin_client.post(f"{MAILINGS}{mailing.pk}/resend/", {"confirm": "yes"})

    second = press_resend(list_admin_client, mailing, django_capture_on_commit_callbacks)

    assert "Nobody to send mlmw 0.10.1 to again" in text(second)
    assert mailing.resends.count() == 1
    assert mail.outbox == []


def test_who_unsubscribed_or_was_already_sent_a_newer_release_is_not_sent_it_again(
    list_admin_client, draft, readers, django_capture_on_commit_callbacks
):
    ann, bob, cy, dee = readers
    mailing = sent_with_outcomes(draft, {r.email: "failed" for r in readers})
    lifecycle.unsubscribe(ann, how="their manage page")
    newer = publishing.publish(
        Version.objects.create(guide=draft.guide, number="0.10.2", title="t", content="# x\n")
    )
    Baseline.objects.filter(subscriber=bob).update(version=newer)  # 0.10.2 reached bob

    response = press_resend(list_admin_client, mailing, django_capture_on_commit_callbacks)

    assert "again to 2 recipient(s)" in text(response)
    assert sorted(m.to[0] for m in mail.outbox if "0.10.1" in m.subject) == [cy.email, dee.email]


def test_a_resend_needs_the_confirmation_box_and_the_operate_permission(
    list_admin_client, editor, draft, readers, django_capture_on_commit_callbacks
):
    mailing = sent_with_outcomes(draft, {r.email: "failed" for r in readers})
    editor_client = Client()
    editor_client.force_login(editor)

    unconfirmed = press_resend(
        list_admin_client, mailing, django_capture_on_commit_callbacks, False
    )
    by_editor = editor_client.post(f"{MAILINGS}{mailing.pk}/resend/", {"confirm": "yes"})
    by_get = list_admin_client.get(f"{MAILINGS}{mailing.pk}/resend/")

    assert "Not sent: tick the box to confirm the resend." in text(unconfirmed)
    assert by_editor.status_code == 403
    assert by_get.status_code == 302
    assert mailing.resends.count() == 0
    assert mail.outbox == []


def test_the_page_offers_the_resend_with_how_many_it_would_reach(list_admin_client, draft, readers):
    ann, bob, *_ = readers
    mailing = sent_with_outcomes(draft, {ann.email: "sent", bob.email: "failed"})

    page = text(list_admin_client.get(f"{MAILINGS}{mailing.pk}/change/"))

    # cy and dee are still queued (in flight): not theirs to resend.
    assert "Send mlmw 0.10.1 again to the 1 recipient who did not receive it" in page


def test_who_has_a_newer_release_on_its_way_is_not_sent_the_older_one_again(
    list_admin_client, draft, readers, django_capture_on_commit_callbacks
):
    ann = readers[0]
    mailing = sent_with_outcomes(draft, {r.email: "failed" for r in readers})
    newer = Version.objects.create(guide=draft.guide, number="0.10.2", title="t", content="# x\n")
    publishing.publish(newer)
    audience.start(Mailing.objects.get(version=newer).pk)  # queued for everyone, not sent yet
    Delivery.objects.filter(mailing__version=newer).exclude(subscriber=ann).update(status="failed")

    response = press_resend(list_admin_client, mailing, django_capture_on_commit_callbacks)

    assert "again to 3 recipient(s)" in text(response)
    assert ann.email not in [m.to[0] for m in mail.outbox]


def test_a_resend_is_paused_and_resumed_like_any_mailing_and_named_by_its_release(
    list_admin_client, draft, readers, django_capture_on_commit_callbacks
):
    mailing = sent_with_outcomes(draft, {r.email: "failed" for r in readers})
    with django_capture_on_commit_callbacks(execute=False):  # its batches not sent yet
        list_admin_client.post(f"{MAILINGS}{mailing.pk}/resend/", {"confirm": "yes"})
    again = mailing.resends.get()

    paused = list_admin_client.post(f"{MAILINGS}{again.pk}/pause/", follow=True)
    with django_capture_on_commit_callbacks(execute=True):
        resumed = list_admin_client.post(f"{MAILINGS}{again.pk}/resume/", follow=True)

    assert "Paused the mailing of mlmw 0.10.1" in text(paused)
    assert "Resumed the mailing of mlmw 0.10.1: 1 queued batch(es) enqueued again." in text(resumed)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in readers)
