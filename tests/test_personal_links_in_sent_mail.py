"""Every personal link of a sent release mail is its own recipient's and does what its words say.

A batch of readers gets 0.10.0 both ways a batch goes out: one Mailgun call with the links as merge
variables (anymail's Mailgun backend, a fake Mailgun on 127.0.0.1), and one SMTP message per reader
(a real SMTP server). In each mail, the List-Unsubscribe header, the "Unsubscribe", "Change what
you receive", "View in browser" and "What changed since you last read" links of both parts, and any
other link to a page that names a reader carry a token that decodes, under that page's own purpose,
to the reader the mail went to (and "View in browser" to the version mailed): not another reader's
link, and not another field's (a manage token behind "Unsubscribe" fails)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import Resolver404, resolve

from subscriptions import audience, delivery, tokens
from subscriptions.models import Mailing, Subscriber
from tests.conftest import make_subscribers

pytestmark = pytest.mark.django_db

READERS = 4
# Each personal link's words in the release mail, and the page it must lead to.
LABELLED = {
    "Unsubscribe": "unsubscribe",
    "Change what you receive": "manage",
    "View in browser": "view_mail",
    "What changed since you last read": "catch_up",
}
READ = {
    "unsubscribe": tokens.read_unsubscribe_token,
    "manage": tokens.read_manage_token,
    "catch_up": tokens.read_manage_token,
    "view_mail": tokens.read_manage_token,
}


def whose(url: str) -> tuple[str, Subscriber | None]:
    """(the page a personal link leads to, the subscriber its token names under that page's
    purpose; None if the token is not valid for that page)."""
    assert url.startswith(settings.SITE_URL + "/"), url
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return "", None
    purpose = match.url_name or ""
    if purpose not in READ:
        return purpose, None
    try:
        return purpose, READ[purpose](match.kwargs["token"])
    except tokens.BadToken:
        return purpose, None


def personal_urls(text: str) -> list[str]:
    """Every link in `text` to a page that names a subscriber by token."""
    site = re.escape(settings.SITE_URL)
    return re.findall(site + r"/(?:unsubscribe|manage)/[^\s\"'<>]+", text)


def assert_every_link_is_theirs(
    reader: Subscriber, version, text: str, html: str, header: str
) -> None:
    text = text.replace("\r\n", "\n")  # as SMTP carries it
    # The header: the one-click URL of this reader.
    assert header.startswith("<") and header.endswith(">"), header
    assert whose(header[1:-1]) == ("unsubscribe", reader)
    # Each labelled link, in both parts, leads to its own page for this reader.
    for words, page in LABELLED.items():
        [in_text] = re.findall(rf"^{re.escape(words)}: (\S+)$", text, re.MULTILINE)
        in_html = re.findall(rf'<a href="([^"]+)"[^>]*>{re.escape(words)}</a>', html)
        assert in_html, f"no {words!r} link in the HTML"
        for url in [in_text, *in_html]:
            assert whose(url) == (page, reader), f"{words!r} leads to {url}"
    # And no other personal link anywhere names someone else or the wrong page.
    for url in personal_urls(text) + personal_urls(html):
        page, named = whose(url)
        assert page in READ and named == reader, url
        if page == "view_mail":
            assert resolve(urlsplit(url).path).kwargs["version_id"] == version.pk, url


@pytest.fixture
def readers(guide, v0_9_0, settings) -> list[Subscriber]:
    settings.MAIL_SEND_RATE = 0
    return make_subscribers(guide, "reader", READERS, baseline=v0_9_0)


def send_release(version) -> None:
    for batch_id in audience.start(Mailing.objects.create(version=version).pk):
        assert delivery.send(batch_id) is None


def test_each_reader_of_a_mailgun_batch_gets_their_own_links_through_merge_variables(
    readers, v0_10_0, mailgun_here, settings
):
    settings.MAIL_MERGE_PLACEHOLDER = "%recipient.{}%"

    send_release(v0_10_0)

    [batch] = mailgun_here.batches  # one call for every reader: the merge path
    assert len(batch.to) == READERS
    for reader in readers:
        [mail] = mailgun_here.messages_to(reader.email)
        assert mail.unresolved == ()
        assert_every_link_is_theirs(
            reader, v0_10_0, mail.text, mail.html, mail.header("List-Unsubscribe")
        )


def test_each_reader_of_an_smtp_batch_gets_their_own_links_in_their_own_message(
    readers, v0_10_0, smtp_server, settings
):
    settings.MAIL_MERGE_PLACEHOLDER = ""

    send_release(v0_10_0)

    assert len(smtp_server.messages) == READERS  # one message per reader
    for reader in readers:
        [mail] = smtp_server.to(reader.email)
        assert_every_link_is_theirs(
            reader, v0_10_0, mail.text, mail.html, mail.header("List-Unsubscribe")
        )
