"""What the foot of a mail tells its reader: why they get it, the same in the text and the HTML part.

A confirmation goes to an address that has not agreed to anything yet, so it must not say "you
subscribed"; a release mail says which guide they subscribed to, in both parts alike.
"""

from __future__ import annotations

from django.conf import settings

from subscriptions import release_mail
from tests.pages import text


def html_part(message) -> str:
    [(html, mime)] = message.alternatives
    assert mime == "text/html"
    return html


def test_the_confirmation_mail_is_worded_for_a_request_nobody_confirmed_yet(
    client, guide, post_committed, mailoutbox
):
    post_committed(client, "/subscribe/", {"email": "ann@example.org"})

    [message] = mailoutbox
    footer = (
        "Someone, hopefully you, asked to subscribe this address to updates of the MLMW guides at "
        f"{settings.SITE_URL}; ignore this mail and nothing happens."
    )
    for part in (" ".join(message.body.split()), text(html_part(message))):
        assert footer in part
        assert "You get this because you subscribed" not in part


def test_the_release_mails_text_and_html_footers_say_the_same(draft):
    mail = release_mail.preview(draft)

    footer = (
        f"You get this because you subscribed to updates of The MLMW guide at {settings.SITE_URL}."
    )
    assert footer in " ".join(mail.text.split())
    assert footer in text(mail.html)
    assert "Change what you receive" in mail.text and "Change what you receive" in text(mail.html)
