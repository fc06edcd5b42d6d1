"""A subscriber's first release mail of a guide is the change since the version that was live when
they started following it (confirmed, imported with consent, or gained the guide), not the whole
guide; a guide with nothing published then is mailed whole. Existing baselines are never moved by it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from guide import publishing
from guide.models import Guide, Version
from subscriptions import addresses, emails, lifecycle, release_mail, tokens
from subscriptions.models import Baseline, Delivery, Mailing, Subscriber
from tests.conftest import MLMW_0_9_0, make_subscribers, make_version
from tests.forms import page_form
from tests.mails import mailed_path
from tests.pages import text

ADDRESS = "alice@example.org"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def mdtp_1_0(mdtp) -> Version:
    return make_version(
        mdtp, "1.0.0", MLMW_0_9_0, published_at=datetime(2026, 8, 1, 9, tzinfo=UTC), bump="major"
    )


@pytest.fixture
def subscribe_and_confirm(client, post_committed, mailoutbox, settings):
    """ADDRESS through the subscribe form and the mailed link's Confirm button; the subscriber."""
    settings.CONFIRMATION_RESEND_SECONDS = 0

    def subscribe_and_confirm(*guides: Guide) -> Subscriber:
        post_committed(
            client, "/subscribe/", {"email": ADDRESS, "guides": [g.pk for g in guides]}, follow=True
        )
        confirmed = post_committed(
            client, mailed_path(mailoutbox[-1].body, "/confirm/"), follow=True
        )
        assert confirmed.status_code == 200, text(confirmed)
        subscriber = Subscriber.objects.get(email_key=ADDRESS)
        assert subscriber.status == Subscriber.Status.CONFIRMED
        return subscriber

    return subscribe_and_confirm


@pytest.fixture
def publish_and_mail(django_capture_on_commit_callbacks):
    """Publish as an editor does; the commit's tasks run (eager) and send the mail to the outbox."""

    def publish_and_mail(version: Version) -> Mailing:
        with django_capture_on_commit_callbacks(execute=True):
            publishing.publish(version)
        return Mailing.objects.get(version=version)

    return publish_and_mail


def baselines(subscriber: Subscriber) -> dict[str, str]:
    return {
        b.guide.slug: b.version.number
        for b in Baseline.objects.filter(subscriber=subscriber).select_related("guide", "version")
    }


def mail_to(mailoutbox, subscriber: Subscriber, since: Version | None, version: Version):
    """The one release mail `subscriber` got, checked to be `version`'s mail for a reader last
    mailed `since` (None: the whole guide)."""
    [mail] = [
        m
        for m in mailoutbox
        if m.to == [subscriber.email] and "Confirm" not in m.subject and "Welcome" not in m.subject
    ]
    variant = release_mail.render_markers(since, version)
    links = emails.personal_links([subscriber])[0]
    expected = release_mail.fill(variant, links)
    assert (mail.subject, mail.body) == (expected.subject, expected.text)
    return mail


def test_a_reader_who_confirms_while_0_10_0_is_live_is_mailed_the_change_since_0_10_0(
    draft, subscribe_and_confirm, publish_and_mail, mailoutbox
):
    v0_10_0 = draft.previous()
    alice = subscribe_and_confirm(draft.guide)
    (older,) = make_subscribers(draft.guide, "older", 1, baseline=v0_10_0)

    assert baselines(alice) == {"mlmw": "0.10.0"}
    mailing = publish_and_mail(draft)

    rows = Delivery.objects.filter(mailing=mailing)
    assert {(d.subscriber_id, d.since_version_id, d.status) for d in rows} == {
        (alice.pk, v0_10_0.pk, "sent"),
        (older.pk, v0_10_0.pk, "sent"),
    }
    # The same mail as a reader who has followed since before 0.10.0: not the whole guide.
    mail = mail_to(mailoutbox, alice, v0_10_0, draft)
    assert mail.subject == "The MLMW guide 0.10.1: Release 0.10.1"
    assert "Since 0.10.0, the last version you heard about from us: 1 section added" in mail.body
    assert "0.9.0" not in mail.body  # no changelog of earlier releases, no whole guide
    assert baselines(alice) == {"mlmw": "0.10.1"}


def test_an_address_erased_and_subscribed_again_starts_at_the_version_live_when_it_confirms(
    guide, v0_9_0, subscribe_and_confirm
):
    (old,) = make_subscribers(guide, "alice", 1, baseline=v0_9_0)
    Subscriber.objects.filter(pk=old.pk).update(email=ADDRESS, email_key=ADDRESS)
    lifecycle.erase(Subscriber.objects.get(pk=old.pk), how="test")
    v0_10_0 = make_version(
        guide, "0.10.0", MLMW_0_9_0 + "\n## More\n", published_at=timezone.now(), bump="minor"
    )

    alice = subscribe_and_confirm(guide)

    assert Baseline.objects.get(subscriber=alice).version == v0_10_0


def test_a_guide_with_nothing_published_gets_no_baseline_and_its_first_release_is_mailed_whole(
    draft, mdtp, subscribe_and_confirm, publish_and_mail, mailoutbox
):
    first = make_version(mdtp, "1.0.0", MLMW_0_9_0)  # a draft: nothing of mdtp is published yet
    alice = subscribe_and_confirm(draft.guide, mdtp)

    assert baselines(alice) == {"mlmw": "0.10.0"}
    publish_and_mail(first)

    assert Delivery.objects.get(subscriber=alice).since_version_id is None
    mail_to(mailoutbox, alice, None, first)
    assert baselines(alice) == {"mlmw": "0.10.0", "mdtp": "1.0.0"}


def test_a_consented_import_starts_each_new_subscriber_at_the_version_live_now(
    draft, mdtp, tmp_path: Path, django_capture_on_commit_callbacks, publish_and_mail, mailoutbox
):
    path = tmp_path / "list.csv"
    # bob follows mlmw; carol every guide (an empty cell), of which mdtp has nothing published.
    path.write_text("email,guides\nbob@example.org,mlmw\ncarol@example.org,\n", encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_subscribers", str(path), "--consented", stdout=StringIO())
    bob, carol = (Subscriber.objects.get(email_key=f"{n}@example.org") for n in ("bob", "carol"))

    assert baselines(bob) == baselines(carol) == {"mlmw": "0.10.0"}
    mailing = publish_and_mail(draft)

    v0_10_0 = draft.previous()
    assert set(
        Delivery.objects.filter(mailing=mailing).values_list("since_version", flat=True)
    ) == {v0_10_0.pk}
    mail_to(mailoutbox, carol, v0_10_0, draft)


def test_an_import_without_consent_starts_the_baseline_when_the_subscriber_confirms(
    v0_10_0, tmp_path: Path, django_capture_on_commit_callbacks, post_committed, client, mailoutbox
):
    path = tmp_path / "list.csv"
    path.write_text("email\nbob@example.org\n", encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_subscribers", str(path), stdout=StringIO())
    bob = Subscriber.objects.get()
    assert not Baseline.objects.exists()  # pending: no release reaches them yet

    post_committed(client, mailed_path(mailoutbox[-1].body, "/confirm/"), follow=True)

    assert baselines(bob) == {"mlmw": "0.10.0"}


def test_an_import_giving_a_confirmed_subscriber_a_guide_starts_that_guide_only(
    guide, v0_9_0, v0_10_0, mdtp_1_0, tmp_path: Path, django_capture_on_commit_callbacks
):
    (bob,) = make_subscribers(guide, "bob", 1, baseline=v0_9_0)
    path = tmp_path / "list.csv"
    path.write_text(f"email,guides\n{bob.email},mlmw mdtp\n", encoding="utf-8")

    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_subscribers", str(path), "--consented", stdout=StringIO())

    # mlmw keeps the version bob was last mailed (0.9.0), though 0.10.0 is live.
    assert baselines(bob) == {"mlmw": "0.9.0", "mdtp": "1.0.0"}


def test_a_guide_ticked_on_the_preferences_page_starts_at_its_latest_version_and_the_rest_stay(
    guide, v0_9_0, v0_10_0, mdtp_1_0, publish_and_mail, mailoutbox
):
    (alice,) = make_subscribers(guide, "alice", 1, baseline=v0_9_0)
    page = reverse("subscriptions:manage", args=[tokens.manage_token(alice)])
    browser = Client(enforce_csrf_checks=True)
    form = page_form(browser.get(page), page)

    saved = browser.post(
        form.action, form.data(guides=[str(guide.pk), str(mdtp_1_0.guide_id)]), follow=True
    )

    assert "Your preferences are saved." in text(saved)
    assert baselines(alice) == {"mlmw": "0.9.0", "mdtp": "1.0.0"}
    mdtp_1_1 = make_version(mdtp_1_0.guide, "1.1.0", MLMW_0_9_0 + "\n## News\n")
    publish_and_mail(mdtp_1_1)
    mail_to(mailoutbox, alice, mdtp_1_0, mdtp_1_1)


def test_a_pending_subscriber_who_changes_guides_gets_a_baseline_only_on_confirming(
    guide, v0_10_0, mdtp_1_0
):
    (bob,) = make_subscribers(guide, "bob", 1, status=Subscriber.Status.PENDING)

    lifecycle.update_preferences(bob, guides=[], cadence="every")  # none ticked: all guides

    assert not Baseline.objects.exists()


def test_existing_baselines_never_move_backwards_or_forwards(guide, v0_9_0, v0_10_0, mdtp_1_0):
    (behind,) = make_subscribers(guide, "behind", 1, baseline=v0_9_0, guides=(mdtp_1_0.guide,))
    (current,) = make_subscribers(guide, "current", 1, baseline=v0_10_0)
    before = {b.pk: (b.version_id, b.updated_at) for b in Baseline.objects.all()}

    written = Baseline.objects.start_following([behind.pk, current.pk])

    assert written == 1  # only behind's mdtp, which had none
    assert {b.pk: (b.version_id, b.updated_at) for b in Baseline.objects.filter(pk__in=before)} == (
        before
    )
    assert baselines(behind) == {"mlmw": "0.9.0", "mdtp": "1.0.0"}


def test_an_unsubscribed_reader_who_confirms_again_keeps_the_version_last_mailed(
    guide, v0_9_0, v0_10_0, subscribe_and_confirm
):
    (alice,) = make_subscribers(guide, "alice", 1, baseline=v0_9_0)
    Subscriber.objects.filter(pk=alice.pk).update(email=ADDRESS, email_key=ADDRESS)
    lifecycle.unsubscribe(alice, how="test")

    alice = subscribe_and_confirm(guide)

    assert baselines(alice) == {"mlmw": "0.9.0"}


def test_an_access_request_that_also_subscribes_starts_at_the_live_version(
    guide, v0_10_0, mdtp_1_0
):
    (confirmed,) = make_subscribers(guide, "confirmed", 1, baseline=v0_10_0)
    request = lifecycle.Request(ip="192.0.2.9")
    with transaction.atomic():
        new = lifecycle.subscribe_verified(
            "new@example.org", guides=[mdtp_1_0.guide], request=request, source="access-mdtp"
        )
        lifecycle.subscribe_verified(
            confirmed.email, guides=[mdtp_1_0.guide], request=request, source="access-mdtp"
        )

    assert baselines(new) == {"mdtp": "1.0.0"}
    assert baselines(confirmed) == {"mlmw": "0.10.0", "mdtp": "1.0.0"}


def test_someone_who_starts_following_after_the_publish_but_before_the_mailing_gets_no_empty_mail(
    draft, django_capture_on_commit_callbacks, mailoutbox
):
    v0_10_0 = draft.previous()
    (reader,) = make_subscribers(draft.guide, "reader", 1, baseline=v0_10_0)
    with django_capture_on_commit_callbacks() as start_tasks:
        publishing.publish(draft)
    # Confirmed while the mailing waits for a worker: 0.10.1 is already live for them.
    late = Subscriber.objects.create(
        email="late@example.org", email_key=addresses.key("late@example.org"),
        status=Subscriber.Status.CONFIRMED, confirmed_at=timezone.now(),
    )  # fmt: skip
    late.guides.add(draft.guide)
    Baseline.objects.start_following([late.pk])

    for task in start_tasks:
        task()

    mailing = Mailing.objects.get(version=draft)
    assert mailing.started_at >= late.confirmed_at
    assert list(Delivery.objects.filter(mailing=mailing).values_list("subscriber", flat=True)) == [
        reader.pk
    ]
    assert [m.to for m in mailoutbox] == [[reader.email]]
    assert baselines(late) == {"mlmw": "0.10.1"}


def test_a_reader_a_newer_mailing_reached_first_gets_no_mail_of_the_older_version(
    draft, django_capture_on_commit_callbacks, mailoutbox
):
    # Two publishes in quick succession: the newer mailing is written and sent before the older
    # one's audience. The older one must not mail its version (a diff backwards) to that reader.
    (reader,) = make_subscribers(draft.guide, "reader", 1, baseline=draft.previous())
    with django_capture_on_commit_callbacks() as older_tasks:
        publishing.publish(draft)
    newer = make_version(draft.guide, "0.10.2", draft.content + "\n\nOne more line.\n")
    with django_capture_on_commit_callbacks(execute=True):
        publishing.publish(newer)
    assert baselines(reader) == {"mlmw": "0.10.2"}
    assert [m.to for m in mailoutbox] == [[reader.email]]

    for task in older_tasks:
        task()

    older = Mailing.objects.get(version=draft)
    assert not Delivery.objects.filter(mailing=older).exists()
    assert len(mailoutbox) == 1
    assert baselines(reader) == {"mlmw": "0.10.2"}
