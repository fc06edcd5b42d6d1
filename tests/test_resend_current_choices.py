"""A resend reaches only who would get the release if it were sent now. When it is pressed, whoever
since switched to digests or to releases the version's bump is not in, stopped following the
guide, unsubscribed, or was mailed a newer version of the guide is left out; when its batch is
sent, whoever since switched cadence, unsubscribed or was mailed a newer version is skipped.

Made and sent in-process as tests/test_resend_admin.py does (eager tasks, locmem mail)."""

from __future__ import annotations

import pytest
from django.core import mail

from guide import publishing
from guide.models import Version
from subscriptions import audience, delivery, lifecycle, resend
from subscriptions.models import Baseline, Delivery, Mailing, Subscriber
from tests.conftest import make_subscribers

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(draft, v0_10_0, settings):
    settings.MAIL_MERGE_PLACEHOLDER = ""  # one message per reader, as SMTP sends them
    return make_subscribers(draft.guide, "reader", 5, baseline=v0_10_0)


def failed_for_everyone(version: Version) -> Mailing:
    """The mailing of `version` (a patch release), every delivery failed."""
    publishing.publish(version)
    mailing = Mailing.objects.get(version=version)
    audience.start(mailing.pk)
    mailing.deliveries.update(status=Delivery.Status.FAILED, error="ESP answered 400")
    mailing.batches.update(status="done")
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.DONE)
    return mailing


def choose(reader: Subscriber, **fields) -> None:
    Subscriber.objects.filter(pk=reader.pk).update(**fields)


def sent_again(version: Version) -> list[str]:
    return sorted(m.to[0] for m in mail.outbox if version.number in m.subject)


def send_batches(mailing: Mailing) -> None:
    for batch_id in mailing.batches.values_list("pk", flat=True):
        assert delivery.send(batch_id) is None


def test_who_since_chose_digests_major_releases_only_or_left_the_guide_is_not_in_the_resend(
    draft, readers, django_capture_on_commit_callbacks
):
    ann, bob, cy, dee, eve = readers
    mailing = failed_for_everyone(draft)
    choose(ann, cadence="weekly")
    choose(bob, cadence="major")
    cy.guides.clear()

    with django_capture_on_commit_callbacks(execute=True):
        again = resend.resend(mailing.pk)

    assert sorted(again.deliveries.values_list("subscriber__email", flat=True)) == [
        dee.email,
        eve.email,
    ]
    assert sent_again(draft) == [dee.email, eve.email]


def test_who_changes_cadence_unsubscribes_or_moves_on_after_the_press_is_skipped_when_sent(
    draft, readers, django_capture_on_commit_callbacks
):
    ann, bob, cy, dee, eve = readers
    mailing = failed_for_everyone(draft)
    with django_capture_on_commit_callbacks(execute=False):  # its batches wait on the broker
        again = resend.resend(mailing.pk)
    assert again.audience_size == 5

    choose(ann, cadence="daily")
    choose(bob, cadence="minor")  # 0.10.1 is a patch release
    lifecycle.unsubscribe(dee, how="their manage page")
    newer = publishing.publish(
        Version.objects.create(guide=draft.guide, number="0.10.2", title="t", content="# x\n")
    )
    Baseline.objects.filter(subscriber=eve).update(version=newer)  # 0.10.2 reached eve
    send_batches(again)

    assert sent_again(draft) == [cy.email]
    outcomes = dict(again.deliveries.values_list("subscriber__email", "error"))
    assert outcomes == {
        ann.email: delivery.NOT_CHOSEN,
        bob.email: delivery.NOT_CHOSEN,
        cy.email: "",
        dee.email: delivery.NOT_SUBSCRIBED,
        eve.email: delivery.OVERTAKEN,
    }
    assert list(Baseline.objects.filter(version=draft).values_list("subscriber", flat=True)) == [
        cy.pk
    ]
