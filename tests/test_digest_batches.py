"""A digest batch is sent like a release batch: the readers who get the same digest (the same
baselines, filters and cadence) share one Mailgun call, each with their own links as merge
variables, and each group's mail holds the change from its own baseline under its own filters.
The batch runs in-process against PostgreSQL and a fake Mailgun on 127.0.0.1 (anymail's real
Mailgun backend)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from django.urls import resolve

from subscriptions import audience, delivery, digests, tokens, unread
from subscriptions.models import Baseline, Delivery, Mailing
from subscriptions.reading import Reading
from tests.conftest import make_subscribers, make_version
from tests.digest_helpers import clear_caches

pytestmark = pytest.mark.django_db

LINK_1_1 = "https://added-in-1-1.example/"
LINK_1_2 = "https://added-in-1-2.example/"
V1_0 = "# The guide\n\n## Models\n\n- [Trees](https://trees.example/)\n\n## Tools\n\nText.\n"
V1_1 = V1_0.replace("Text.\n", f"- [Added in 1.1]({LINK_1_1})\n")
V1_2 = V1_0.replace("Text.\n", f"- [Added in 1.2]({LINK_1_2})\n")


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly_readers(guide, prefix: str, count: int, baseline, kinds=()):
    """Readers of a weekly digest on Mondays at 08:00 UTC, chosen the Monday before."""
    with time_machine.travel(at(2026, 3, 16, 12), tick=False):
        readers = make_subscribers(guide, prefix, count, baseline=baseline)
        for reader in readers:
            reader.set_reading(
                Reading(cadence="weekly", digest_weekday=0, digest_hour=8, time_zone="UTC",
                        kinds=frozenset(kinds))
            )  # fmt: skip
            reader.save()
    return readers


def unsubscribe_link_of(mail) -> str:
    header = mail.header("List-Unsubscribe")
    assert header.startswith("<") and header.endswith(">")
    return header[1:-1]


def whose(link: str):
    """The subscriber an unsubscribe link names."""
    return tokens.read_unsubscribe_token(resolve(urlsplit(link).path).kwargs["token"])


@pytest.fixture
def versions(guide):
    v1_0 = make_version(guide, "1.0.0", V1_0, published_at=at(2026, 3, 1), bump="minor")
    v1_1 = make_version(guide, "1.1.0", V1_1, published_at=at(2026, 3, 10), bump="minor",
                        entries=[("added", "A first link.")])  # fmt: skip
    return v1_0, v1_1


def publish_1_2(guide):
    return make_version(guide, "1.2.0", V1_2, published_at=at(2026, 3, 19), bump="minor",
                        entries=[("added", "A second link."), ("removed", "The first link.")])  # fmt: skip


def assert_each_got_their_digest(mailgun_here, mailing, ann, bob, cy, v1_2) -> None:
    """One mail each, with their own links and the ledger's ids; from 1.0.0 for ann, from 1.1.0
    for bob, showing only removals for cy."""
    for reader in ann + bob + cy:
        [mail] = mailgun_here.messages_to(reader.email)
        assert mail.unresolved == ()
        assert mail.tags == ("digest",)
        assert mail.subject == "Your weekly digest: The MLMW guide 1.2.0"
        row = Delivery.objects.get(mailing=mailing, subscriber=reader)
        assert mail.metadata["delivery"] == str(row.pk)  # what the ESP can be asked about later
        assert (row.status, row.esp_message_id) == (Delivery.Status.SENT, mail.message_id)
        # Their own way out, in the header and both parts.
        link = unsubscribe_link_of(mail)
        assert whose(link) == reader
        assert link in mail.text and link in mail.html
        assert Baseline.objects.get(subscriber=reader).version == v1_2
    for reader in ann:
        text = mailgun_here.messages_to(reader.email)[0].text
        assert "Since 1.0.0, the last version you heard about from us" in text
        assert LINK_1_2 in text and LINK_1_1 not in text
    for reader in bob:
        text = mailgun_here.messages_to(reader.email)[0].text
        assert "Since 1.1.0, the last version you heard about from us" in text
        assert "A second link." in text and "A first link." not in text
    text = mailgun_here.messages_to(cy[0].email)[0].text
    assert "Showing only: Removed" in text
    assert "The first link." in text and "A second link." not in text


def calls(mailgun_here) -> list[list[str]]:
    return sorted(sorted(call.to) for call in mailgun_here.batches)


def emails_of(*groups) -> list[list[str]]:
    return sorted(sorted(r.email for r in group) for group in groups)


def test_readers_on_several_baselines_and_filters_get_one_mailgun_call_per_digest(
    guide, versions, mailgun_here, settings
):
    settings.MAIL_MERGE_PLACEHOLDER = "%recipient.{}%"
    settings.MAIL_SEND_RATE = 0
    v1_0, v1_1 = versions
    ann = weekly_readers(guide, "ann", 2, v1_0)
    bob = weekly_readers(guide, "bob", 2, v1_1)
    cy = weekly_readers(guide, "cy", 1, v1_0, kinds={"removed"})
    v1_2 = publish_1_2(guide)

    with time_machine.travel(at(2026, 3, 23, 8), tick=False):
        mailing = digests.open_due()
        batch_ids = audience.start(mailing.pk)
        for batch_id in batch_ids:
            assert delivery.send(batch_id) is None

    # The audience cut one batch per digest, and each went out in one call.
    assert len(batch_ids) == 3
    assert calls(mailgun_here) == emails_of(ann, bob, cy)
    assert_each_got_their_digest(mailgun_here, mailing, ann, bob, cy, v1_2)
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.DONE


def test_a_batch_whose_readers_chose_differently_since_it_was_written_sends_one_call_per_digest(
    guide, versions, mailgun_here, settings
):
    settings.MAIL_MERGE_PLACEHOLDER = "%recipient.{}%"
    settings.MAIL_SEND_RATE = 0
    v1_0, v1_1 = versions
    ann = weekly_readers(guide, "ann", 2, v1_0)
    bob = weekly_readers(guide, "bob", 2, v1_0)
    cy = weekly_readers(guide, "cy", 1, v1_0)
    v1_2 = publish_1_2(guide)

    with time_machine.travel(at(2026, 3, 23, 8), tick=False):
        mailing = digests.open_due()
        [batch_id] = audience.start(mailing.pk)  # alike when written: one batch
        # Before it is sent, bob marks 1.1.0 read and cy narrows the digest to removals.
        for reader in bob:
            unread.mark_read(reader, [v1_1.pk])
        cy[0].set_reading(replace(cy[0].chosen_reading(), kinds=frozenset({"removed"})))
        cy[0].save()
        assert delivery.send(batch_id) is None

    assert calls(mailgun_here) == emails_of(ann, bob, cy)
    assert_each_got_their_digest(mailgun_here, mailing, ann, bob, cy, v1_2)


def test_without_merge_support_each_reader_gets_their_own_message_of_their_groups_digest(
    guide, versions, mailoutbox
):
    assert not settings.MAIL_MERGE_PLACEHOLDER  # the test settings' locmem backend
    v1_0, v1_1 = versions
    ann = weekly_readers(guide, "ann", 2, v1_0)
    bob = weekly_readers(guide, "bob", 1, v1_1)
    publish_1_2(guide)

    with time_machine.travel(at(2026, 3, 23, 8), tick=False):
        mailing = digests.open_due()
        for batch_id in audience.start(mailing.pk):
            delivery.send(batch_id)

    assert sorted(m.to[0] for m in mailoutbox) == sorted(r.email for r in ann + bob)
    for mail in mailoutbox:
        [reader] = [r for r in ann + bob if r.email == mail.to[0]]
        link = mail.extra_headers["List-Unsubscribe"][1:-1]
        assert whose(link) == reader
        since = "1.0.0" if reader in ann else "1.1.0"
        assert f"Since {since}, the last version you heard about from us" in mail.body
