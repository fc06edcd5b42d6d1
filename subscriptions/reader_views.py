"""The reader's own pages, reached from every release mail and digest: the mail itself in a
browser, and what changed since they last read, with "Mark as read"; and where those links lead in
a preview or test mail. Thin: the logic is in release_mail, digest_mail and unread."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_safe

from guide.diff_render import render_html
from subscriptions import digest_mail, emails, release_mail, tokens, unread
from subscriptions.forms import SubscribeForm
from subscriptions.models import Subscriber

# The mail's HTML is served as it was sent, a document of its own: its CSS is inline (css-inline),
# so this response alone allows inline style. Nothing else loads but images; no script runs, and
# the sandbox gives the document an opaque origin (no cookies, no forms) should anything slip in.
MAIL_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'; sandbox"
)


def _no_mail(request: HttpRequest) -> HttpResponse:
    # One answer for a damaged link, an erased reader and a mail never sent: nothing to enumerate.
    return render(request, "subscriptions/mail_not_found.html", status=404)


@require_safe
def view_mail(request: HttpRequest, token: str, version_id: int) -> HttpResponse:
    """The release mail of `version_id` a reader was sent, as sent (their links in it); changes
    nothing."""
    subscriber = _reader(token)
    mail = release_mail.as_sent(subscriber, version_id) if subscriber is not None else None
    return _mail_page(request, mail)


@require_safe
def view_digest(request: HttpRequest, token: str, page: str) -> HttpResponse:
    """The digest named `page` a reader was sent, as sent (their links in it); changes nothing."""
    subscriber = _reader(token)
    mail = digest_mail.as_sent(subscriber, page) if subscriber is not None else None
    return _mail_page(request, mail)


def _reader(token: str) -> Subscriber | None:
    try:
        return tokens.read_manage_token(token)
    except tokens.BadToken:
        return None


def _mail_page(request: HttpRequest, mail: emails.RenderedMail | None) -> HttpResponse:
    if mail is None:
        return _no_mail(request)
    response = HttpResponse(mail.html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = MAIL_POLICY
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"  # the address carries the reader's token
    return response


# What each reader's link of a mail opens, by its path under the manage link: a preview or test
# mail's link (release_mail.preview_links) lands on a page that says so.
PREVIEWED_LINKS = {
    "": "their preferences: what they receive, and when",
    "one-click-unsubscribe": "their one-click unsubscribe",
    "catch-up": "what changed since they last read, with Mark as read",
    "mail": "this very mail as a web page, with their own links (View in browser)",
    "digest": "this very digest as a web page, with their own links (View in browser)",
}


@require_safe
def preview_link(request: HttpRequest, rest: str = "") -> HttpResponse:
    """The page every personal link of a preview or test mail opens: it names the reader's page
    the link opens in a mail a reader gets. Changes nothing."""
    opens = PREVIEWED_LINKS.get(rest.partition("/")[0], PREVIEWED_LINKS[""])
    response = render(request, "subscriptions/preview_link.html", {"opens": opens})
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_http_methods(["GET", "POST"])
def catch_up(request: HttpRequest, token: str) -> HttpResponse:
    """GET: what changed since the reader's last mail, per guide. POST: mark it read."""
    try:
        subscriber = tokens.read_manage_token(token)
    except tokens.BadToken:
        return render(request, "subscriptions/invalid_link.html", status=400)
    if subscriber is None:
        form = SubscribeForm(initial={"source": "old-link"})
        return render(request, "subscriptions/link_gone.html", {"form": form}, status=410)
    if request.method == "POST":
        ids = [int(v) for v in request.POST.getlist("read") if v.isdigit()]
        if not ids or not unread.mark_read(subscriber, ids):
            return _catch_up_page(request, subscriber, token, error=NOTHING_MARKED, status=400)
        response = HttpResponseRedirect(reverse("subscriptions:catch_up", args=[token]) + "?read=1")
        response.status_code = 303  # a reload shows the page, not the form again
        return response
    return _catch_up_page(request, subscriber, token, marked=request.GET.get("read") == "1")


NOTHING_MARKED = "Nothing was marked as read: the page was out of date. Here is what is new now."


def _catch_up_page(
    request: HttpRequest,
    subscriber,
    token: str,
    *,
    marked: bool = False,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    found = unread.unread(subscriber)
    context = {
        "subscriber": subscriber,
        "token": token,
        "marked": marked,
        "error": error,
        "guides": [
            {
                "guide": item.guide,
                "changes": item.changes,
                # The renderer of the compare page and the release mail.
                "diff_html": mark_safe(render_html(item.changes.diff)),  # noqa: S308 - escaped
            }
            for item in found
        ],
        "read_ids": [item.changes.until.pk for item in found],
    }
    response = render(request, "subscriptions/catch_up.html", context, status=status)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
