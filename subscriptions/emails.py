"""The one email builder: every mail mlmw sends is a kind with three templates.

templates/emails/<kind>/subject.txt, body.txt and body.html (extending emails/base.html). The HTML has
its CSS inlined by css-inline, because many mail clients drop <style>. Mail to a subscriber carries the
list headers (RFC 2369 List-Unsubscribe, RFC 8058 one-click, List-Id) and Auto-Submitted; the
confirmation mail, sent before anyone is on the list, carries only Auto-Submitted.

Rendering and addressing are separate steps so the release fan-out can render a variant once and
address it to many recipients.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def subscriber_links(subscriber: Subscriber) -> dict[str, str]:
    return {
        "unsubscribe_url": absolute(
            reverse("subscriptions:unsubscribe", args=[tokens.unsubscribe_token(subscriber)])
        ),
        "manage_url": absolute(
            reverse("subscriptions:manage", args=[tokens.manage_token(subscriber)])
        ),
    }


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
    message = _message(kind, mail, "reader@example.org", {"Auto-Submitted": "auto-generated"})
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


def list_headers(subscriber: Subscriber) -> dict[str, str]:
    # Only the HTTPS one-click URL: a mailto: would promise an unsubscribe that no code reads.
    links = subscriber_links(subscriber)
    return {
        "List-Unsubscribe": f"<{links['unsubscribe_url']}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
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
    context = {"subscriber": subscriber, **subscriber_links(subscriber), **(context or {})}
    headers = list_headers(subscriber) if list_mail else {"Auto-Submitted": "auto-generated"}
    return _message(kind, render(kind, context), to or subscriber.email, headers)


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
    return _message(
        kind,
        render(kind, context or {}),
        to,
        {"Auto-Submitted": "auto-generated", **(headers or {})},
    )


def _message(
    kind: str, mail: RenderedMail, to: str, headers: dict[str, str]
) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=mail.subject,
        body=mail.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
    )
    message.attach_alternative(mail.html, "text/html")
    return mailkinds.identify(message, kind)
