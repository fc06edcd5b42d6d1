"""Visitor pages: subscribe, confirm, preferences, one-click unsubscribe. Thin: logic is in lifecycle."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from subscriptions import addresses, lifecycle, tokens
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


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "subscriptions/subscribe.html", {"form": SubscribeForm()})
    form = SubscribeForm(request.POST)
    if not form.is_valid():
        return render(request, "subscriptions/subscribe.html", {"form": form}, status=400)
    address = form.cleaned_data["email"]
    if form.is_bot or over_address_limits(request, address):
        return check_inbox(request)
    lifecycle.subscribe(
        address,
        guides=form.cleaned_data["guides"],
        cadence=form.cleaned_data["cadence"],
        source=form.cleaned_data.get("source") or "form",
    )
    return check_inbox(request)


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a Confirm button (mail scanners open links); only the POST confirms."""
    try:
        subscriber = lifecycle.check_confirm_token(token)
    except lifecycle.ConfirmError as exc:
        return render(
            request,
            "subscriptions/confirm_failed.html",
            {"reason": exc.reason, "form": SubscribeForm(initial={"source": "resend"})},
            status=400 if exc.reason == "invalid" else 410,
        )
    if request.method == "GET":
        return render(request, "subscriptions/confirm.html", {"subscriber": subscriber})
    try:
        subscriber = lifecycle.confirm(token, visitor(request))
    except lifecycle.ConfirmError as exc:
        return render(
            request,
            "subscriptions/confirm_failed.html",
            {"reason": exc.reason, "form": SubscribeForm(initial={"source": "resend"})},
            status=410,
        )
    return render(
        request,
        "subscriptions/confirmed.html",
        {"subscriber": subscriber, "manage_token": tokens.manage_token(subscriber)},
    )


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return render(request, "subscriptions/invalid_link.html", status=400)


@csrf_exempt  # RFC 8058: mail clients POST with no cookie and no CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = tokens.read_unsubscribe_token(token)
    except tokens.BadToken:
        return _invalid_link(request)
    if request.method == "GET":
        return render(request, "subscriptions/unsubscribe.html", {"subscriber": subscriber})
    if request.POST.get("List-Unsubscribe") != "One-Click":
        return HttpResponseBadRequest(
            "Send List-Unsubscribe=One-Click to unsubscribe.", content_type="text/plain"
        )
    if subscriber is not None:
        lifecycle.unsubscribe(subscriber, how="one-click link")
    # 200 with no redirect, as RFC 8058 asks; the same answer when already unsubscribed or erased.
    return render(request, "subscriptions/unsubscribed.html", {"subscriber": subscriber})


def _manage_subscriber(token: str) -> Subscriber | None:
    try:
        return tokens.read_manage_token(token)
    except tokens.BadToken:
        return None


@require_http_methods(["GET", "POST"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = _manage_subscriber(token)
    if subscriber is None:
        return _invalid_link(request)
    saved = False
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            lifecycle.update_preferences(
                subscriber, guides=form.cleaned_data["guides"], cadence=form.cleaned_data["cadence"]
            )
            saved = True
    else:
        form = PreferencesForm(
            initial={"guides": subscriber.guides.all(), "cadence": subscriber.cadence}
        )
    context = {
        "subscriber": subscriber,
        "form": form,
        "token": token,
        "saved": saved,
        "unsubscribe_token": tokens.unsubscribe_token(subscriber),
    }
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "subscriptions/manage.html", context, status=status)


@require_http_methods(["GET"])
def export(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = _manage_subscriber(token)
    if subscriber is None:
        return _invalid_link(request)
    response = HttpResponse(
        json.dumps(lifecycle.export_data(subscriber), indent=2),
        content_type="application/json",
    )
    response["Content-Disposition"] = 'attachment; filename="mlmw-subscription.json"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["POST"])
def erase(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = _manage_subscriber(token)
    if subscriber is None:
        return _invalid_link(request)
    if request.POST.get("confirm") != "yes":
        return HttpResponseBadRequest("Tick the box to confirm erasure.", content_type="text/plain")
    lifecycle.erase(subscriber, how="self-service")
    return render(request, "subscriptions/erased.html")


def client_ip(request: HttpRequest) -> str | None:
    """The visitor's IP: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address the outermost
    trusted proxy saw (counted from the right of X-Forwarded-For, which a client cannot forge)."""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        forwarded = [ip.strip() for ip in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [ip for ip in forwarded if ip]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR")
