"""Every release mail links to itself on the web: "View in browser" shows that very mail, the HTML
part as sent with its reader's own links, from a signed token in the mail, with no login.

The page is the mail's HTML as its own document: its CSS is inline, so that response alone allows
inline style, and nothing else (no script, no connection, a sandbox). It is private, never indexed,
and reading it changes nothing. A damaged link, or one naming a mail its reader was never sent,
gets one and the same "no mail here" page."""

from __future__ import annotations

import pytest
from django.core import signing

from subscriptions import audience, delivery, tokens
from subscriptions.models import Baseline, Delivery, Mailing, Subscriber, SubscriberEvent
from tests.conftest import make_subscribers
from tests.csp import policy
from tests.mails import mailed_path, view_path
from tests.pages import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(guide, v0_9_0, settings) -> list[Subscriber]:
    settings.MAIL_SEND_RATE = 0
    settings.MAIL_MERGE_PLACEHOLDER = ""  # one message per reader, as SMTP sends them
    return make_subscribers(guide, "reader", 2, baseline=v0_9_0)


def send_release(version) -> None:
    for batch_id in audience.start(Mailing.objects.create(version=version).pk):
        assert delivery.send(batch_id) is None


def mail_of(mailoutbox, reader: Subscriber):
    [mail] = [m for m in mailoutbox if m.to == [reader.email]]
    [(html, _)] = mail.alternatives
    return mail, html


def rows() -> tuple:
    return (
        list(Baseline.objects.values_list("subscriber_id", "version_id", "updated_at")),
        list(Delivery.objects.values_list("pk", "status", "sent_at")),
        SubscriberEvent.objects.count(),
    )


def test_view_in_browser_shows_the_html_part_the_reader_was_sent_with_their_own_links(
    client, readers, v0_10_0, mailoutbox
):
    send_release(v0_10_0)
    ann, bob = readers
    mail, html = mail_of(mailoutbox, ann)
    before = rows()

    response = client.get(view_path(mail.body))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response.content.decode() == html  # that very mail, byte for byte
    assert mailed_path(mail.body, "/unsubscribe/") in html  # with ann's links, not bob's
    assert mailed_path(mail_of(mailoutbox, bob)[0].body, "/unsubscribe/") not in html
    assert rows() == before  # reading it changes nothing


def test_the_mail_page_allows_inline_style_and_nothing_else_and_is_private(
    client, readers, v0_10_0, mailoutbox
):
    send_release(v0_10_0)
    mail, _ = mail_of(mailoutbox, readers[0])

    response = client.get(view_path(mail.body))

    directives = policy(response)
    assert directives["default-src"] == ["'none'"]  # so no script, no fetch, no frame, no font
    assert "script-src" not in directives
    assert directives["style-src"] == ["'unsafe-inline'"]
    assert directives["img-src"] == ["https:", "data:"]
    assert directives["sandbox"] == []  # an opaque origin: no cookies, no forms
    assert directives["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert "noindex" in response["X-Robots-Tag"]
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"


def test_a_damaged_link_and_a_link_to_a_mail_never_sent_get_the_same_not_found_page(
    client, readers, v0_10_0, draft, mailoutbox
):
    send_release(v0_10_0)
    ann = readers[0]
    path = view_path(mail_of(mailoutbox, ann)[0].body)
    token = path.removeprefix("/manage/").split("/")[0]
    # Genuine links, each to a mail that reader never got: another version's, an outsider's.
    outsider = Subscriber.objects.create(email="eve@example.org", email_key="eve@example.org")
    never_sent = [
        f"/manage/{token}/mail/{draft.pk}/",
        f"/manage/{tokens.manage_token(outsider)}/mail/{v0_10_0.pk}/",
    ]
    forged = signing.Signer(salt="another purpose").sign(ann.uid.hex)
    damaged = [
        f"/manage/{t}/mail/{v0_10_0.pk}/"
        for t in [token[:-2], tokens.unsubscribe_token(ann), forged, "x"]
    ]

    answers = [client.get(p) for p in [*never_sent, *damaged]]

    assert {a.status_code for a in answers} == {404}
    assert {text(a) for a in answers} == {text(answers[0])}  # nothing tells them apart
    assert "There is no mail at this link" in text(answers[0])
    assert {a["Cache-Control"] for a in answers} == {"private, no-store"}


def test_the_mail_page_only_answers_reads(client, readers, v0_10_0, mailoutbox):
    send_release(v0_10_0)
    path = view_path(mail_of(mailoutbox, readers[0])[0].body)

    assert client.post(path).status_code == 405
