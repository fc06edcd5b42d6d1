"""The one email builder: every mail mlmw sends is a kind with three templates.

templates/emails/<kind>/subject.txt, body.txt and body.html (extending emails/base.html). The HTML has
its CSS inlined by css-inline, because many mail clients drop <style>. Mail to a subscriber carries the
list headers (RFC 2369 List-Unsubscribe, RFC 8058 one-click, List-Id) and Auto-Submitted; the
confirmation mail, sent before anyone is on the list, carries only Auto-Submitted.

Rendering and addressing are separate steps so the release fan-out can render a variant once and
address it to many recipients.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import engines
from django.template.loader import render_to_string
from django.urls import reverse

from subscriptions import mailkinds, tokens
from subscriptions.models import Subscriber

_inliner = css_inline.CSSInliner(keep_style_tags=True)  # keep @media (dark mode, phones)

# Gmail clips a message past ~102 KB of HTML and hides the rest, the unsubscribe footer first.
HTML_BUDGET = 80_000
MESSAGE_BUDGET = 100_000
# What each recipient's copy adds to the rendered variant: personal links in place of the
# markers (in both parts and the List-Unsubscribe header), To, Message-ID, the ESP's headers.
PERSONAL_ROOM = 3_000


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def absolute(path: str) -> str:
    return settings.SITE_URL + path


# A list mail's personal links: field -> (URL name, token of tokens.link_token_makers()).
PERSONAL_LINKS = {
    "unsubscribe_url": ("subscriptions:unsubscribe", "unsubscribe"),
    "manage_url": ("subscriptions:manage", "manage"),
}
_TOKEN_STAND_IN = "MLMWTOKEN"  # noqa: S105 - not a secret


def personal_links(subscribers: Sequence[tokens.HasUid]) -> list[dict[str, str]]:
    """Each subscriber's personal links (PERSONAL_LINKS), in order: the one builder of them.

    reverse() costs more than signing a token (two of each per recipient cost a third of a batch's
    time); the links differ only in the token, which reverse() leaves as is (signing's alphabet is
    URL-safe), so each URL is reversed once, with a stand-in then replaced by each token.
    """
    makers = tokens.link_token_makers()
    shapes = [
        (name, absolute(reverse(url_name, args=[_TOKEN_STAND_IN])), makers[token])
        for name, (url_name, token) in PERSONAL_LINKS.items()
    ]
    return [
        {name: shape.replace(_TOKEN_STAND_IN, make(subscriber)) for name, shape, make in shapes}
        for subscriber in subscribers
    ]


def under_manage(url_name: str, *args: object) -> str:
    """The path of a reader's page under their manage link (the catch-up page, a mail on the web),
    relative to it. A mail writes it after the manage link, so the page costs no personal field of
    its own: no merge variable, no signature per recipient."""
    manage = reverse("subscriptions:manage", args=[_TOKEN_STAND_IN])
    path = reverse(url_name, args=[_TOKEN_STAND_IN, *args])
    if not path.startswith(manage):
        raise ValueError(f"{url_name} is not under the manage page")
    return path.removeprefix(manage)


def subscriber_links(subscriber: tokens.HasUid) -> dict[str, str]:
    return personal_links([subscriber])[0]


def render(kind: str, context: dict[str, Any]) -> RenderedMail:
    context = {"site_url": settings.SITE_URL, **context}
    text_engine = engines["text"]
    subject = " ".join(
        text_engine.get_template(f"emails/{kind}/subject.txt").render(context).split()
    )
    text = text_engine.get_template(f"emails/{kind}/body.txt").render(context)
    html = _inliner.inline(render_to_string(f"emails/{kind}/body.html", context))
    return RenderedMail(subject=subject, text=text, html=html)


def sizes(mail: RenderedMail, kind: str = "release") -> tuple[int, int]:
    """(HTML part, whole message) in bytes, as the message goes out (MIME-encoded)."""
    message = build_message(
        kind, mail, ["reader@example.org"], {"Auto-Submitted": "auto-generated"}
    )
    return len(mail.html.encode()), len(message.message().as_bytes())


def fits(mail: RenderedMail, kind: str = "release") -> bool:
    html, whole = sizes(mail, kind)
    return html + PERSONAL_ROOM <= HTML_BUDGET and whole + PERSONAL_ROOM <= MESSAGE_BUDGET


def render_fitting(kind: str, contexts: Iterable[dict[str, Any]]) -> RenderedMail:
    """The first of `contexts`, largest first, whose mail fits the size budget; the last one if
    none does (it is the smallest the caller knows how to make)."""
    mail = None
    for context in contexts:
        mail = render(kind, context)
        if fits(mail, kind):
            return mail
    if mail is None:
        raise ValueError("render_fitting needs at least one context")
    return mail


def unsubscribe_header(url: str) -> str:
    """RFC 2369 List-Unsubscribe: the HTTPS one-click URL alone (a mailto: would promise an
    unsubscribe that no code reads)."""
    return f"<{url}>"


def one_click_headers(url: str | None) -> dict[str, str]:
    """The way out of a mail in one click: List-Unsubscribe and RFC 8058's List-Unsubscribe-Post.
    `url` None leaves List-Unsubscribe to a sender that sets it per recipient (merge headers)."""
    headers = {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    if url is not None:
        headers["List-Unsubscribe"] = unsubscribe_header(url)
    return headers


def list_headers(unsubscribe_url: str | None) -> dict[str, str]:
    """The headers of every mail to the list: the one-click way out, List-Id, Auto-Submitted."""
    return {
        **one_click_headers(unsubscribe_url),
        "List-Id": settings.LIST_ID,
        "Auto-Submitted": "auto-generated",
    }


def build(
    kind: str,
    subscriber: Subscriber,
    context: dict[str, Any] | None = None,
    *,
    to: str | None = None,
    list_mail: bool = True,
) -> EmailMultiAlternatives:
    """A ready-to-send message of `kind` to one subscriber, with their links and the list headers;
    without them when `list_mail` is false (the confirmation: nobody is on the list yet)."""
    links = subscriber_links(subscriber)
    context = {"subscriber": subscriber, **links, **(context or {})}
    headers = (
        list_headers(links["unsubscribe_url"])
        if list_mail
        else {"Auto-Submitted": "auto-generated"}
    )
    return build_message(kind, render(kind, context), [to or subscriber.email], headers)


def build_personal(
    kind: str,
    to: str,
    context: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> EmailMultiAlternatives:
    """A ready-to-send message of `kind` to an address that asked for it and is not (as such) on a
    list: access-request verifications, grants and denials. No List-* headers, since there is no list
    to leave; `headers` adds any (a grant holder's notice carries its own one-click opt-out)."""
    return build_message(
        kind,
        render(kind, context or {}),
        [to],
        {"Auto-Submitted": "auto-generated", **(headers or {})},
    )


def build_message(
    kind: str, mail: RenderedMail, to: list[str], headers: dict[str, str]
) -> EmailMultiAlternatives:
    """`mail` as a message of `kind` to `to`, stamped for the ESP (mailkinds.identify)."""
    message = EmailMultiAlternatives(
        subject=mail.subject,
        body=mail.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        headers=headers,
    )
    message.attach_alternative(mail.html, "text/html")
    return mailkinds.identify(message, kind)
