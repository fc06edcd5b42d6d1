"""A reader's "What changed since you last read" page, linked from every release mail: the catch-up
from their baseline (the last version they were mailed) to the newest published version of each
guide they follow, and a "Mark as read" button that moves their baseline there, so their next mail
starts where they stopped reading. Reading the page changes nothing; a bad link changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from guide import publishing
from subscriptions import tokens
from subscriptions.models import Baseline, Delivery, Mailing, Subscriber, SubscriberEvent
from tests.conftest import MLMW_0_10_1, make_subscribers, make_version
from tests.forms import page_form
from tests.pages import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(guide, v0_9_0, v0_10_0, settings) -> Subscriber:
    """Last mailed 0.9.0; 0.10.0 is published since (they have not read it)."""
    settings.MAIL_SEND_RATE = 0
    [made] = make_subscribers(guide, "reader", 1, baseline=v0_9_0)
    return made


def page(reader: Subscriber) -> str:
    return f"/manage/{tokens.manage_token(reader)}/catch-up/"


def baseline(reader: Subscriber) -> str:
    return Baseline.objects.get(subscriber=reader).version.number


def rows() -> tuple:
    return (
        list(Baseline.objects.values_list("subscriber_id", "version_id", "updated_at")),
        SubscriberEvent.objects.count(),
    )


def test_the_page_shows_the_catch_up_from_the_readers_baseline_and_changes_nothing(client, reader):
    before = rows()

    response = client.get(page(reader))

    assert response.status_code == 200
    shown = text(response)
    assert "The MLMW guide: 0.9.0 → 0.10.0" in shown
    assert "Theano, no longer maintained." in shown  # 0.10.0's changelog
    assert 'class="diff"' in response.content.decode()  # the compare page's and the mail's diff
    assert "Mark as read" in shown
    assert rows() == before
    assert response["Cache-Control"] == "private, no-store"


def test_mark_as_read_moves_the_baseline_and_the_next_mail_starts_there(
    client, reader, v0_10_0, draft, django_capture_on_commit_callbacks, mailoutbox
):
    form = page_form(client.get(page(reader)), page(reader))
    assert "csrfmiddlewaretoken" in form.names

    response = client.post(form.action, form.data())

    assert response.status_code == 303 and response["Location"] == page(reader) + "?read=1"
    assert baseline(reader) == "0.10.0"
    after = text(client.get(response["Location"]))
    assert "Marked as read" in after and "Nothing new" in after

    with django_capture_on_commit_callbacks(execute=True):
        publishing.publish(draft)

    [sent] = Delivery.objects.filter(mailing=Mailing.objects.get(version=draft))
    assert sent.subscriber == reader and sent.since_version == v0_10_0
    [mail] = [m for m in mailoutbox if m.to == [reader.email]]
    assert mail.subject == "The MLMW guide 0.10.1: Release 0.10.1"  # no "and 1 earlier release"
    assert "Since 0.10.0, the last version you heard about from us" in mail.body


def test_a_release_published_while_the_page_was_open_stays_unread(client, reader, guide):
    form = page_form(client.get(page(reader)), page(reader))
    make_version(
        guide, "0.10.1", MLMW_0_10_1, published_at=datetime(2026, 10, 1, tzinfo=UTC), bump="patch"
    )

    client.post(form.action, form.data())

    assert baseline(reader) == "0.10.0"
    assert "0.10.0 → 0.10.1" in text(client.get(page(reader)))


def test_a_bad_link_or_a_forged_form_changes_nothing(reader, v0_10_0):
    before = rows()
    client = Client(enforce_csrf_checks=True)
    form = page_form(client.get(page(reader)), page(reader))
    damaged = page(reader).replace("/catch-up/", "x/catch-up/")

    bad_link = client.post(damaged, form.data())
    no_csrf = client.post(page(reader), {"read": v0_10_0.pk})
    unsubscribe_token = f"/manage/{tokens.unsubscribe_token(reader)}/catch-up/"
    other_purpose = client.post(unsubscribe_token, form.data())

    assert (bad_link.status_code, no_csrf.status_code, other_purpose.status_code) == (400, 403, 400)
    assert rows() == before


def test_marking_a_version_of_a_guide_the_reader_does_not_follow_changes_nothing(
    client, reader, mdtp
):
    other = make_version(
        mdtp, "1.0.0", "# MDTP\n", published_at=datetime(2026, 8, 1, tzinfo=UTC), bump="major"
    )
    before = rows()

    response = client.post(page(reader), {"read": [other.pk, "not-a-number"]})

    assert response.status_code == 400
    assert "Nothing was marked as read" in text(response)
    assert rows() == before


def test_the_changelog_shows_only_the_kinds_of_change_the_reader_chose(client, reader):
    Subscriber.objects.filter(pk=reader.pk).update(kinds="removed")

    shown = text(client.get(page(reader)))

    assert "Theano, no longer maintained." in shown
    assert "An Interviews section." not in shown and "Retitled the Bishop link." not in shown
