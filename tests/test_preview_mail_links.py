"""A preview or test mail carries nobody's links, yet none of its links leads nowhere: the
editor's preview of a draft and its test mail, and a subscriber's preview test, link the reader's
pages (preferences, unsubscribe, what changed since they last read, View in browser) to a page that
says the link is in a preview and what it opens in a reader's mail. Following one changes nothing."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from subscriptions import release_mail
from subscriptions.models import Subscriber
from tests.conftest import make_subscribers
from tests.pages import text

pytestmark = pytest.mark.django_db

SITE = "http://testserver"


def site_links(body: str) -> dict[str, str]:
    """Each labelled site link of a mail's text part ("View in browser: <url>") by its label."""
    return {
        label: url.removeprefix(SITE)
        for label, url in re.findall(r"^([A-Z][^:\n]+): (" + re.escape(SITE) + r"\S+)$", body, re.M)
    }


def test_the_editors_test_mail_links_the_readers_pages_to_a_page_saying_it_is_a_preview(
    editor_client, editor, draft, client
):
    editor_client.post(f"/admin/guide/version/{draft.pk}/send-test/")
    [sent] = mail.outbox
    found = site_links(sent.body)

    answers = {
        label: client.get(found[label])
        for label in (
            "View in browser",
            "What changed since you last read",
            "Change what you receive",
            "Unsubscribe",
        )
    }

    assert {label: a.status_code for label, a in answers.items()} == dict.fromkeys(answers, 200)
    for answer in answers.values():
        assert "This link is in a preview or test mail" in text(answer)
        assert "noindex" in answer["X-Robots-Tag"]
    assert "this very mail as a web page" in text(answers["View in browser"])
    assert "what changed since they last read" in text(answers["What changed since you last read"])
    assert "their one-click unsubscribe" in text(answers["Unsubscribe"])
    [(html, _)] = sent.alternatives
    assert f'href="{SITE}{found["View in browser"]}"' in html


def test_the_preview_in_the_admin_shows_the_same_links(draft):
    shown = release_mail.example(draft)

    assert f"View in browser: {SITE}/mail-preview/mail/{draft.pk}/" in shown.text
    assert f"What changed since you last read: {SITE}/mail-preview/catch-up/" in shown.text
    assert "/manage/" not in shown.text + shown.html


def test_a_subscribers_preview_test_links_to_the_preview_page_not_to_their_pages(
    client, guide, v0_9_0, draft
):
    [reader] = make_subscribers(guide, "reader", 1, baseline=v0_9_0)

    release_mail.send_preview_test(reader, draft, "admin@mlmw.example")

    [sent] = mail.outbox
    found = site_links(sent.body)
    for label in ("View in browser", "What changed since you last read", "Unsubscribe"):
        answer = client.get(found[label])
        assert answer.status_code == 200
        assert "This link is in a preview or test mail" in text(answer)
    assert "/manage/" not in sent.body and "/unsubscribe/" not in sent.body
    assert Subscriber.objects.get(pk=reader.pk).status == Subscriber.Status.CONFIRMED


def test_the_preview_page_only_answers_reads(client):
    assert client.post("/mail-preview/catch-up/").status_code == 405
