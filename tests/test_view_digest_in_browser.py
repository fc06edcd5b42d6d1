"""Every digest links to itself on the web, as a release mail does: "View in browser" shows that
very digest, the HTML part as sent with its reader's own links, from a signed token in the mail,
with no login; and "What changed since you last read" opens their catch-up page.

The digest is rendered again from what it was made of, stored when it was sent (per guide the
versions it spans and the reader's filters, and the cadence): the reader's baselines and filters
moving on since change nothing on it. The page is served under the release mail page's policy, is
private, and reading it changes nothing. A damaged link, another reader's, an erased reader's, or
one naming a digest never sent to that reader get one and the same "no mail here" page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core import signing

from subscriptions import lifecycle, tokens
from subscriptions.models import Baseline, Delivery, Subscriber, SubscriberEvent
from tests.conftest import make_version
from tests.csp import policy
from tests.digest_helpers import FIRST_SLOT, clear_caches, digest_run, weekly_reader
from tests.mails import digest_view_path, mailed_path
from tests.pages import text

pytestmark = pytest.mark.django_db

NEXT_SLOT = datetime(2026, 10, 19, 6, tzinfo=UTC)  # a week after FIRST_SLOT


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()


@pytest.fixture
def readers(guide, v0_9_0, v0_10_0, settings) -> list[Subscriber]:
    """ann and bob, weekly readers last mailed 0.9.0: their first digest holds 0.10.0."""
    settings.MAIL_SEND_RATE = 0
    settings.MAIL_MERGE_PLACEHOLDER = ""  # one message per reader, as SMTP sends them
    return [weekly_reader(guide, v0_9_0, prefix=name) for name in ("ann", "bob")]


def digest_of(mails, reader: Subscriber):
    [mail] = [m for m in mails if m.to == [reader.email]]
    [(html, _)] = mail.alternatives
    return mail, html


def rows() -> tuple:
    return (
        list(Baseline.objects.order_by("pk").values_list("subscriber_id", "version_id")),
        list(Delivery.objects.order_by("pk").values_list("pk", "status", "sent_at")),
        list(Subscriber.objects.order_by("pk").values_list("pk", "status", "digest_after")),
        SubscriberEvent.objects.count(),
    )


def test_view_in_browser_shows_the_digest_the_reader_was_sent_with_their_own_links(
    client, readers, mailoutbox
):
    mails = digest_run(FIRST_SLOT, mailoutbox)
    ann, bob = readers
    mail, html = digest_of(mails, ann)
    assert mail.subject == "Your weekly digest: The MLMW guide 0.10.0"
    before = rows()

    response = client.get(digest_view_path(mail.body))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response.content.decode() == html  # that very digest, byte for byte
    assert mailed_path(mail.body, "/unsubscribe/") in html  # with ann's links, not bob's
    assert mailed_path(digest_of(mails, bob)[0].body, "/unsubscribe/") not in html
    assert rows() == before  # reading it changes nothing


def test_the_page_stays_that_digest_after_the_readers_baseline_and_filters_move_on(
    client, guide, readers, v0_10_0, mailoutbox
):
    ann = readers[0]
    first, html = digest_of(digest_run(FIRST_SLOT, mailoutbox), ann)
    make_version(
        guide, "0.11.0", v0_10_0.content + "\n## Tools\n\n- [JAX](https://jax.dev/)\n",
        published_at=datetime(2026, 10, 14, tzinfo=UTC), bump="minor",
        entries=[("added", "A Tools section with JAX.")],
    )  # fmt: skip
    second, _ = digest_of(digest_run(NEXT_SLOT, mailoutbox), ann)
    Subscriber.objects.filter(pk=ann.pk).update(kinds="removed", cadence="daily")
    clear_caches()  # as in another process: nothing kept from the send

    old = client.get(digest_view_path(first.body))
    new = client.get(digest_view_path(second.body))

    assert Baseline.objects.get(subscriber=ann).version.number == "0.11.0"
    assert old.status_code == new.status_code == 200
    assert old.content.decode() == html
    assert digest_view_path(first.body) != digest_view_path(second.body)
    assert "JAX" in new.content.decode() and "JAX" not in html


def test_the_catch_up_link_of_a_digest_opens_the_readers_catch_up_page(client, readers, mailoutbox):
    mail, html = digest_of(digest_run(FIRST_SLOT, mailoutbox), readers[0])
    [line] = [x for x in mail.body.splitlines() if x.startswith("What changed since you last read")]
    path = mailed_path(line, "/manage/")

    assert path.endswith("/catch-up/") and f'href="http://testserver{path}"' in html
    assert client.get(path).status_code == 200


def test_the_digest_page_allows_inline_style_and_nothing_else_and_is_private(
    client, readers, mailoutbox
):
    mail, _ = digest_of(digest_run(FIRST_SLOT, mailoutbox), readers[0])

    response = client.get(digest_view_path(mail.body))

    directives = policy(response)
    assert directives["default-src"] == ["'none'"]
    assert "script-src" not in directives
    assert directives["style-src"] == ["'unsafe-inline'"]
    assert directives["sandbox"] == []
    assert directives["frame-ancestors"] == ["'none'"]
    assert "noindex" in response["X-Robots-Tag"]
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"


def test_damaged_unknown_and_erased_links_get_the_same_not_found_page(client, readers, mailoutbox):
    mails = digest_run(FIRST_SLOT, mailoutbox)
    ann, bob = readers
    path = digest_view_path(digest_of(mails, ann)[0].body)
    token, page = path.removeprefix("/manage/").split("/digest/")
    page = page.strip("/")
    outsider = Subscriber.objects.create(email="eve@example.org", email_key="eve@example.org")
    forged = signing.Signer(salt="another purpose").sign(ann.uid.hex)
    links = [
        f"/manage/{tokens.manage_token(outsider)}/digest/{page}/",  # never sent to eve
        f"/manage/{token}/digest/{'0' * len(page)}/",
        f"/manage/{token}/digest/{page[:-1]}/",
        f"/manage/{token}/digest/x/",
        *(f"/manage/{t}/digest/{page}/" for t in [token[:-2], tokens.unsubscribe_token(ann),
                                                  forged, "x"]),
    ]  # fmt: skip
    answers = [client.get(p) for p in links]
    lifecycle.erase(Subscriber.objects.get(pk=ann.pk), how="their manage page")
    answers.append(client.get(path))

    assert {a.status_code for a in answers} == {404}
    assert {text(a) for a in answers} == {text(answers[0])}  # nothing tells them apart
    assert "There is no mail at this link" in text(answers[0])
    # bob was sent the same digest (same versions, filters, cadence): its page, with his links.
    assert client.get(f"/manage/{tokens.manage_token(bob)}/digest/{page}/").status_code == 200


def test_the_digest_page_only_answers_reads(client, readers, mailoutbox):
    mail, _ = digest_of(digest_run(FIRST_SLOT, mailoutbox), readers[0])

    assert client.post(digest_view_path(mail.body)).status_code == 405
