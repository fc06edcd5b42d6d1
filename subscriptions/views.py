"""Visitor pages: subscribe, confirm, preferences, one-click unsubscribe. Thin: logic is in lifecycle."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from mlmw.proxy import client_ip
from subscriptions import addresses, form_requests, lifecycle, tokens, welcome
from subscriptions.forms import PreferencesForm, SubscribeForm
from subscriptions.models import Subscriber

# --- Shared by every public form that takes an address (subscribe here, access requests in access/) ---


def visitor(request: HttpRequest) -> lifecycle.Request:
    """Who is acting, for consent and verification records."""
    return lifecycle.Request(
        ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")
    )


def over_address_limits(request: HttpRequest, address: str) -> bool:
    """Count this attempt against the IP and the mailbox; True when either is over its limit.

    Every form that mails an address counts against the same two budgets, so a second form does not
    double what one IP may make us send to one mailbox."""
    by_ip = is_ratelimited(
        request, group="subscribe-ip", key="ip", rate=settings.SUBSCRIBE_RATE_PER_IP, increment=True
    )
    mailbox = addresses.mailbox_key(address)
    by_mailbox = is_ratelimited(
        request,
        group="subscribe-mailbox",
        key=lambda group, request: mailbox,
        rate=settings.SUBSCRIBE_RATE_PER_MAILBOX,
        increment=True,
    )
    return by_ip or by_mailbox


def check_inbox(request: HttpRequest, purpose: str = "confirm your subscription") -> HttpResponse:
    # The one answer to every valid request of a form, whatever happened: no address enumeration.
    return render(request, "subscriptions/check_inbox.html", {"purpose": purpose})


def see_other(to: str, *args: object, query: str = "") -> HttpResponseRedirect:
    """The answer to a form's POST that did its work: a GET of the result page (303), so that
    reloading the page shows the result again instead of sending the form again."""
    response = HttpResponseRedirect(reverse(to, args=args) + query)
    response.status_code = 303
    return response


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "subscriptions/subscribe.html", {"form": SubscribeForm()})
    form = SubscribeForm(request.POST)
    if not form.is_valid():
        return render(request, "subscriptions/subscribe.html", {"form": form}, status=400)
    address = form.cleaned_data["email"]
    if form.is_bot or over_address_limits(request, address):
        return see_other("subscriptions:check_inbox")
    # Stored, then decided by a task, so this view reads no subscriber: the same work and time for
    # every address; stored, so a broker outage delays the mail instead of losing the request.
    form_requests.submit(
        form_requests.SUBSCRIBE,
        address,
        {
            "address": address,
            "guide_ids": [guide.pk for guide in form.cleaned_data["guides"]],
            "reading": form.reading().to_json(),
            "source": form.cleaned_data.get("source") or "form",
        },
    )
    return see_other("subscriptions:check_inbox")


@require_http_methods(["GET"])
def subscribe_sent(request: HttpRequest) -> HttpResponse:
    return check_inbox(request)


def _confirm_failed(request: HttpRequest, reason: str) -> HttpResponse:
    if reason == "confirmed":
        # The link's own subscriber is confirmed (a second click): not an error. The page names
        # no address and no choices; the mails carry the preferences link.
        return render(request, "subscriptions/already_confirmed.html")
    return render(
        request,
        "subscriptions/confirm_failed.html",
        {"reason": reason, "form": SubscribeForm(initial={"source": "resend"})},
        status=400 if reason == "invalid" else 410,
    )


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a Confirm button (mail scanners open links); only the POST confirms."""
    try:
        subscriber = lifecycle.check_confirm_token(token)
    except lifecycle.ConfirmError as exc:
        return _confirm_failed(request, exc.reason)
    if request.method == "GET":
        return render(request, "subscriptions/confirm.html", {"subscriber": subscriber})
    try:
        subscriber = lifecycle.confirm(token, visitor(request))
    except lifecycle.ConfirmError as exc:
        return _confirm_failed(request, exc.reason)
    return see_other("subscriptions:confirmed", tokens.manage_token(subscriber))


@require_http_methods(["GET"])
def confirmed(request: HttpRequest, token: str) -> HttpResponse:
    """Where a confirmation leads: the choices restated, and the preferences link."""
    subscriber = _linked_subscriber(request, token, tokens.read_manage_token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    if subscriber.status != Subscriber.Status.CONFIRMED:
        return redirect("subscriptions:manage", token)
    context = {
        "subscriber": subscriber,
        "manage_token": token,
        "choices": welcome.describe(subscriber),
    }
    return render(request, "subscriptions/confirmed.html", context)


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return render(request, "subscriptions/invalid_link.html", status=400)


def _link_gone(request: HttpRequest) -> HttpResponse:
    # A genuine link whose subscriber was erased (or removed by an admin). The page names no address:
    # there is none left to name, and the link may be read by someone else than its owner.
    form = SubscribeForm(initial={"source": "old-link"})
    return render(request, "subscriptions/link_gone.html", {"form": form}, status=410)


def _linked_subscriber(
    request: HttpRequest, token: str, read: Callable[[str], Subscriber | None]
) -> Subscriber | HttpResponse:
    """The subscriber a preferences or unsubscribe link names, or the page saying why there is none:
    a damaged link (400) or one whose subscriber no longer exists (410)."""
    try:
        subscriber = read(token)
    except tokens.BadToken:
        return _invalid_link(request)
    return _link_gone(request) if subscriber is None else subscriber


@csrf_exempt  # RFC 8058: mail clients POST with no cookie and no CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = tokens.read_unsubscribe_token(token)
    except tokens.BadToken:
        return _invalid_link(request)
    if request.method == "GET":
        if subscriber is None:
            return _link_gone(request)
        if subscriber.status == Subscriber.Status.UNSUBSCRIBED:
            return render(request, "subscriptions/unsubscribed.html", {"subscriber": subscriber})
        return render(request, "subscriptions/unsubscribe.html", {"subscriber": subscriber})
    if request.POST.get("List-Unsubscribe") != "One-Click":
        return HttpResponseBadRequest(
            "Send List-Unsubscribe=One-Click to unsubscribe.", content_type="text/plain"
        )
    if subscriber is not None:
        lifecycle.unsubscribe(subscriber, how="one-click link")
    if request.POST.get("from") == "page" and subscriber is not None:
        # Our own pages' button: on to a GET of this link, which says unsubscribed.
        return see_other("subscriptions:unsubscribe", token)
    # 200 with no redirect, as RFC 8058 asks; the same answer when already unsubscribed or erased.
    return render(request, "subscriptions/unsubscribed.html", {"subscriber": subscriber})


ERASE_UNCONFIRMED = "Tick the box to confirm erasure."
NOT_ON_LIST = (
    "Nothing was saved: this address receives no updates, so there are no preferences to change. "
    "Subscribe again below."
)


def _manage_page(
    request: HttpRequest,
    subscriber: Subscriber,
    token: str,
    *,
    form: PreferencesForm | None = None,
    saved: bool = False,
    error: str = "",
    erase_error: str = "",
    status: int = 200,
) -> HttpResponse:
    current = PreferencesForm.initial_for(subscriber)
    if subscriber.on_list:
        form = form or PreferencesForm(initial=current)
        subscribe_form = None
    else:
        # Preferences would change nothing: the public subscribe form instead, filled in with the
        # address and the last choices; it asks for confirmation again (double opt-in).
        form = None
        subscribe_form = SubscribeForm(
            initial={"email": subscriber.email, **current, "source": "manage"}
        )
    context = {
        "subscriber": subscriber,
        "form": form,
        "subscribe_form": subscribe_form,
        "token": token,
        "saved": saved,
        "error": error,
        "erase_error": erase_error,
        "unsubscribe_token": tokens.unsubscribe_token(subscriber),
    }
    return render(request, "subscriptions/manage.html", context, status=status)


@require_http_methods(["GET", "POST"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = _linked_subscriber(request, token, tokens.read_manage_token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    if request.method == "GET":
        return _manage_page(request, subscriber, token, saved=request.GET.get("saved") == "1")
    if not subscriber.on_list:
        # A form from an older page (the address was unsubscribed since): nothing to save.
        return _manage_page(request, subscriber, token, error=NOT_ON_LIST, status=400)
    form = PreferencesForm(request.POST)
    if not form.is_valid():
        return _manage_page(request, subscriber, token, form=form, status=400)
    lifecycle.update_preferences(
        subscriber,
        guides=form.cleaned_data["guides"],
        cadence=form.cleaned_data["cadence"],
        reading=form.reading(),
    )
    return see_other("subscriptions:manage", token, query="?saved=1")


@require_http_methods(["GET"])
def export(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = _linked_subscriber(request, token, tokens.read_manage_token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    response = HttpResponse(
        json.dumps(lifecycle.export_data(subscriber), indent=2),
        content_type="application/json",
    )
    response["Content-Disposition"] = 'attachment; filename="mlmw-subscription.json"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "POST"])
def erase(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "GET":
        # Erasing is the form at the foot of the preferences page; an address typed in goes there.
        return redirect(reverse("subscriptions:manage", args=[token]) + "#erase")
    subscriber = _linked_subscriber(request, token, tokens.read_manage_token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    if request.POST.get("confirm") != "yes":
        return _manage_page(request, subscriber, token, erase_error=ERASE_UNCONFIRMED, status=400)
    lifecycle.erase(subscriber, how="self-service")
    return see_other("subscriptions:erased")


@require_http_methods(["GET"])
def erased(request: HttpRequest) -> HttpResponse:
    return render(request, "subscriptions/erased.html")
