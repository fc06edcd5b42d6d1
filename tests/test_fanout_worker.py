"""The release fan-out through the real stack, asserted on what the ESP received.

publish() in this process commits; its on-commit hook puts start_mailing on the real Redis broker; a
real `celery worker` process (tests/conftest.py start_worker) fixes the audience in the real
PostgreSQL test database and sends each batch with anymail's real Mailgun backend, whose API URL is a
fake Mailgun on 127.0.0.1 (fakes/mailgun.py). The assertions read what that server received: one
mail per subscriber, their own headers and links, the diff from the version they were last mailed.
Tests wait on the database (wait_for), never on sleeps.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import Client

from guide import publishing
from guide.models import Version
from subscriptions import emails, release_mail
from subscriptions.models import Baseline, Batch, Delivery, Mailing, Subscriber
from tests.conftest import make_subscribers, make_version
from tests.esp import esp_worker_env
from tests.services import wait_for

pytestmark = [pytest.mark.worker]

BATCH_SIZE = 5  # esp_worker_env's MAIL_BATCH_SIZE


def publish(version: Version) -> Mailing:
    """Publish as an editor does: the commit enqueues start_mailing on the broker."""
    publishing.publish(version)
    return Mailing.objects.get(version=version)


def finished(mailing: Mailing) -> Mailing:
    return wait_for(
        lambda: Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.DONE).first(),
        what=f"the mailing of {mailing.version} to finish",
    )


def expected_mail(subscriber: Subscriber, since: Version | None, version: Version) -> tuple:
    """(subject, text, html) of `version`'s release mail for `subscriber`, last mailed `since`."""
    variant = release_mail.render_markers(since, version)
    links = emails.personal_links([subscriber])[0]
    mail = release_mail.fill(variant, links)
    return (mail.subject, mail.text, mail.html)


def unsubscribe_header(subscriber: Subscriber) -> str:
    url = emails.subscriber_links(subscriber)["unsubscribe_url"]
    return f"<{url}>"


def addresses(subscribers) -> list[str]:
    return sorted(s.email for s in subscribers)


def one_click(url: str):
    """What a mailbox provider does with List-Unsubscribe + List-Unsubscribe-Post (RFC 8058)."""
    assert url.startswith(settings.SITE_URL + "/")
    return Client().post(url.removeprefix(settings.SITE_URL), {"List-Unsubscribe": "One-Click"})


def test_each_confirmed_subscriber_gets_one_mail_with_their_own_headers_and_nobody_else(
    fake_esp, start_worker, v0_10_0, draft
):
    guide = draft.guide
    other = type(guide).objects.create(slug="other", title="Another guide")
    caught_up = make_subscribers(guide, "caught-up", 12, baseline=v0_10_0)
    new = make_subscribers(guide, "new", 10)
    both = make_subscribers(guide, "both", 1, guides=(other,))
    make_subscribers(guide, "pending", 2, status=Subscriber.Status.PENDING)
    make_subscribers(guide, "gone", 2, status=Subscriber.Status.UNSUBSCRIBED)
    make_subscribers(guide, "bounced", 1, status=Subscriber.Status.BOUNCED)
    make_subscribers(other, "other-guide", 3)
    audience = caught_up + new + both
    start_worker(**esp_worker_env(fake_esp))

    mailing = finished(publish(draft))

    # Exactly one mail per confirmed subscriber of the guide; nothing to anyone else.
    assert sorted(fake_esp.recipients()) == addresses(audience)
    assert fake_esp.duplicate_recipients() == {}
    assert fake_esp.shared_batches == []
    # One ESP call per run of MAIL_BATCH_SIZE recipients sharing a baseline: 12 caught up, 11 new.
    assert len(fake_esp.attempts) == len(fake_esp.batches)
    assert len(fake_esp.batches) == math.ceil(12 / BATCH_SIZE) + math.ceil(11 / BATCH_SIZE)
    for subscriber in audience:
        [mail] = fake_esp.messages_to(subscriber.email)
        assert mail.to == subscriber.email
        assert mail.to_header == subscriber.email  # exactly one address in To
        assert mail.from_email == settings.DEFAULT_FROM_EMAIL
        assert mail.header("List-Unsubscribe") == unsubscribe_header(subscriber)
        assert mail.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert mail.header("List-Id") == settings.LIST_ID
        assert mail.header("Auto-Submitted") == "auto-generated"
        assert mail.unresolved == ()
        since = v0_10_0 if subscriber in caught_up else None
        assert (mail.subject, mail.text, mail.html) == expected_mail(subscriber, since, draft)
        row = Delivery.objects.get(mailing=mailing, subscriber=subscriber)
        assert row.status == Delivery.Status.SENT
        assert row.esp_message_id == mail.message_id != ""
        assert row.sent_at is not None
    assert mailing.audience_size == len(audience)
    assert Delivery.objects.filter(mailing=mailing).count() == len(audience)
    assert set(Batch.objects.filter(mailing=mailing).values_list("status", "attempts")) == {
        (Batch.Status.DONE, 1)
    }
    # Every recipient's baseline moved to the version just mailed; nobody else has one.
    assert Counter(Baseline.objects.values_list("version_id", flat=True)) == {
        draft.pk: len(audience)
    }

    # Each mail's List-Unsubscribe URL is its recipient's: a one-click POST unsubscribes them alone.
    for subscriber in audience:
        [mail] = fake_esp.messages_to(subscriber.email)
        url = mail.header("List-Unsubscribe").split(">")[0].removeprefix("<")
        others_before = set(
            Subscriber.objects.exclude(pk=subscriber.pk).values_list("pk", "status")
        )
        assert one_click(url).status_code == 200
        subscriber.refresh_from_db()
        assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
        assert (
            set(Subscriber.objects.exclude(pk=subscriber.pk).values_list("pk", "status"))
            == others_before
        )


# --- Baselines: the diff from the last version each subscriber was mailed ---------------------------

BASE = """# The MLMW guide

## Reading

- [Deep Learning](https://www.deeplearningbook.org/)
"""
OLD_LINK = "https://old.example/added-in-1-1"
NEW_LINK = "https://new.example/added-in-1-2"
MAJOR_LINK = "https://major.example/added-in-2-0"
V1_1 = BASE + f"- [Added in 1.1]({OLD_LINK})\n"
V1_2 = V1_1 + f"- [Added in 1.2]({NEW_LINK})\n"
V2_0 = V1_2 + f"\n## Since 2.0\n\n- [Added in 2.0]({MAJOR_LINK})\n"
BASE_LINK = "https://www.deeplearningbook.org/"


def published(guide, number: str, content: str, bump: str, day: int) -> Version:
    return make_version(
        guide,
        number,
        content,
        published_at=datetime(2026, 1, day, 9, tzinfo=UTC),
        bump=bump,
        entries=[("added", f"What {number} added.")],
    )


def test_each_subscriber_gets_the_diff_since_the_last_version_they_were_mailed(
    fake_esp, start_worker, guide
):
    v1_0 = published(guide, "1.0.0", BASE, "major", 1)
    v1_1 = published(guide, "1.1.0", V1_1, "minor", 2)
    v1_2 = make_version(guide, "1.2.0", V1_2, entries=[("added", "What 1.2.0 added.")])
    since_1_1 = make_subscribers(guide, "since-1-1", 6, baseline=v1_1)
    since_1_0 = make_subscribers(guide, "since-1-0", 4, baseline=v1_0, cadence="minor")
    never = make_subscribers(guide, "never", 7)
    majors = make_subscribers(guide, "major-only", 3, baseline=v1_0, cadence="major")
    groups = {v1_1.pk: since_1_1, v1_0.pk: since_1_0, None: never}
    start_worker(**esp_worker_env(fake_esp))

    mailing = finished(publish(v1_2))

    assert sorted(fake_esp.recipients()) == addresses(since_1_1 + since_1_0 + never)
    assert not any(fake_esp.messages_to(s.email) for s in majors)  # a minor release: not theirs
    for since, members in groups.items():
        since_version = Version.objects.filter(pk=since).first()
        for subscriber in members:
            [mail] = fake_esp.messages_to(subscriber.email)
            assert (mail.subject, mail.text, mail.html) == expected_mail(
                subscriber, since_version, v1_2
            )
            assert NEW_LINK in mail.text and NEW_LINK in mail.html
    # What only an older baseline's diff contains.
    for subscriber in since_1_1:
        [mail] = fake_esp.messages_to(subscriber.email)
        assert "Since 1.1.0, the last version you heard about from us" in mail.text
        assert OLD_LINK not in mail.text and OLD_LINK not in mail.html
        assert "What 1.1.0 added." not in mail.text
    for subscriber in since_1_0:
        [mail] = fake_esp.messages_to(subscriber.email)
        assert "Since 1.0.0, the last version you heard about from us" in mail.text
        assert OLD_LINK in mail.text and OLD_LINK in mail.html
        # An earlier release of a catch-up is a linked heading; its entries are on the web.
        assert "1.1.0: Release 1.1.0 <" in mail.text and BASE_LINK not in mail.text
    for subscriber in never:
        [mail] = fake_esp.messages_to(subscriber.email)
        assert "the last version you heard about" not in mail.text
        assert OLD_LINK in mail.text and BASE_LINK in mail.text
    subjects = {fake_esp.messages_to(group[0].email)[0].subject for group in groups.values()}
    assert len(subjects) == len(groups)

    # Recipients are grouped by baseline: each ESP call is one variant for one group, in runs of
    # MAIL_BATCH_SIZE.
    calls: Counter = Counter()
    for batch in fake_esp.batches:
        [group] = {since for since, members in groups.items() if batch.to[0] in addresses(members)}
        assert set(batch.to) <= set(addresses(groups[group]))
        calls[group] += 1
        assert len({(m.subject, m.text.split("\n--\n")[0]) for m in batch.messages}) == 1
    assert calls == {since: math.ceil(len(m) / BATCH_SIZE) for since, m in groups.items()}
    assert (
        Counter(Batch.objects.filter(mailing=mailing).values_list("since_version_id", flat=True))
        == calls
    )
    # Baselines moved for the mailed; a major-only subscriber keeps their last major.
    for subscriber in since_1_1 + since_1_0 + never:
        assert Baseline.objects.get(subscriber=subscriber, guide=guide).version == v1_2
    for subscriber in majors:
        assert Baseline.objects.get(subscriber=subscriber, guide=guide).version == v1_0

    # The next major: a major-only subscriber gets everything since their last major (1.0.0), the
    # others the diff since 1.2.0, the version they were just mailed.
    fake_esp.reset()
    v2_0 = make_version(guide, "2.0.0", V2_0, entries=[("added", "What 2.0.0 added.")])
    finished(publish(v2_0))

    everyone = since_1_1 + since_1_0 + never + majors
    assert sorted(fake_esp.recipients()) == addresses(everyone)
    for subscriber in majors:
        [mail] = fake_esp.messages_to(subscriber.email)
        assert (mail.subject, mail.text, mail.html) == expected_mail(subscriber, v1_0, v2_0)
        assert "Since 1.0.0, the last version you heard about from us" in mail.text
        for link in (OLD_LINK, NEW_LINK, MAJOR_LINK):
            assert link in mail.text
        assert "What 2.0.0 added." in mail.text
        for number in ("1.1.0", "1.2.0"):
            assert f"{number}: Release {number} <" in mail.text
    for subscriber in since_1_1 + since_1_0 + never:
        [mail] = fake_esp.messages_to(subscriber.email)
        assert (mail.subject, mail.text, mail.html) == expected_mail(subscriber, v1_2, v2_0)
        assert MAJOR_LINK in mail.text and OLD_LINK not in mail.text and NEW_LINK not in mail.text
        assert "What 1.2.0 added." not in mail.text
    assert len(fake_esp.batches) == math.ceil(3 / BATCH_SIZE) + math.ceil(17 / BATCH_SIZE)
    assert Counter(Baseline.objects.values_list("version_id", flat=True)) == {
        v2_0.pk: len(everyone)
    }


# --- Status is checked again right before each send --------------------------------------------------


def test_someone_who_unsubscribes_after_publication_gets_nothing(fake_esp, start_worker, draft):
    subscribers = make_subscribers(draft.guide, "reader", 10)
    # One pool process, and the ESP holds the first batch until the test lets it go: the other
    # batch is still queued (its audience fixed, its task waiting) while the test unsubscribes.
    fake_esp.script([("hold",)])
    start_worker(concurrency=1, **esp_worker_env(fake_esp, TEST_ANYMAIL_REQUESTS_TIMEOUT=30))
    mailing = publish(draft)
    [held] = wait_for(lambda: fake_esp.attempts, what="the first batch to reach the ESP")
    in_flight = [s for s in subscribers if s.email in held.to]
    waiting = [s for s in subscribers if s not in in_flight]
    assert len(in_flight) == len(waiting) == BATCH_SIZE
    assert Batch.objects.filter(mailing=mailing, status=Batch.Status.QUEUED).count() == 1
    assert Delivery.objects.filter(mailing=mailing).count() == len(subscribers)

    late, too_late = waiting[2], in_flight[2]
    for subscriber in (late, too_late):
        assert one_click(emails.subscriber_links(subscriber)["unsubscribe_url"]).status_code == 200
    fake_esp.release()
    finished(mailing)

    # Unsubscribed before their batch was sent: skipped, nothing received, baseline not moved.
    assert fake_esp.messages_to(late.email) == []
    row = Delivery.objects.get(mailing=mailing, subscriber=late)
    assert (row.status, row.error) == (Delivery.Status.SKIPPED, "not subscribed any more")
    assert not Baseline.objects.filter(subscriber=late).exists()
    # The documented window: their batch had already gone to the ESP when they unsubscribed.
    assert len(fake_esp.messages_to(too_late.email)) == 1
    assert Delivery.objects.get(mailing=mailing, subscriber=too_late).status == "sent"
    # Everyone else: one mail each.
    assert sorted(fake_esp.recipients()) == addresses(s for s in subscribers if s != late)
    assert len(fake_esp.attempts) == 2
