"""The admin's login page with limits on failed sign-ins: per (username, client IP), and per client IP.

Only failures count (a member who signs in every day never meets the limit). Once either limit is
reached, the page answers 429 with a message saying so, without checking the password: a correct
guess then is worth nothing to an attacker. Usernames are counted as the login form and the user
model read them (NFKC, then case-folded), so a full-width or bold "admin" is the same account to guess at.
No limit is per username alone: failures from someone else's network never refuse the owner's
right password. Counters live in the cache (Redis in production), so every gunicorn worker shares
them; the client IP is the one rate limits use everywhere (mlmw.proxy.client_ip, which
honours TRUSTED_PROXY_COUNT). Hand-written rather than django-axes: see README, "Admin sign-in".
"""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django_ratelimit.core import get_usage

from mlmw.proxy import client_ip

GROUP = "mlmw.admin-login"
REFUSED = (
    "Too many failed sign-in attempts for this account or from your network. "
    "Try again in {minutes} minute{s}."
)


def username_key(username: str) -> str:
    """The account a typed username names, for counting: the form's NFKC (UsernameField) with
    surrounding spaces stripped, then case-folded (and NFKC again, as casefold can undo it)."""
    folded = unicodedata.normalize("NFKC", username).strip().casefold()
    return unicodedata.normalize("NFKC", folded)


def _username_at_ip_key(group: str, request: HttpRequest) -> str:
    return f"{username_key(request.POST.get('username', ''))}|{client_ip(request)}"


def _limits(request: HttpRequest):
    return [
        {"key": "ip", "rate": settings.ADMIN_LOGIN_RATE_PER_IP},
        {"key": _username_at_ip_key, "rate": settings.ADMIN_LOGIN_RATE_PER_USERNAME},
    ]


def _exhausted(request: HttpRequest) -> int | None:
    """Seconds until the first exhausted limit resets, or None when no limit is reached."""
    waits = []
    for limit in _limits(request):
        usage = get_usage(request, group=GROUP, increment=False, method=["POST"], **limit)
        if usage is not None and usage["count"] >= usage["limit"]:
            waits.append(max(usage["time_left"], 1))
    return max(waits) if waits else None


def _count_failure(request: HttpRequest) -> None:
    for limit in _limits(request):
        get_usage(request, group=GROUP, increment=True, method=["POST"], **limit)


def login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    if request.method != "POST":
        return admin.site.login(request, extra_context)
    wait = _exhausted(request)
    if wait is not None:
        return _refused(request, wait)
    response = admin.site.login(request, extra_context)
    # A successful sign-in redirects; a failed one shows the form again (200 with its errors).
    if response.status_code == 200:
        _count_failure(request)
    return response


def _refused(request: HttpRequest, wait: int) -> HttpResponse:
    form = AdminAuthenticationForm(request, data=request.POST)
    # Errors set directly: form.errors would run full_clean(), which checks the password.
    form.cleaned_data = {}
    form._errors = ErrorDict()
    minutes = (wait + 59) // 60
    form.add_error(None, REFUSED.format(minutes=minutes, s="" if minutes == 1 else "s"))
    context = {
        **admin.site.each_context(request),
        "title": "Log in",
        "subtitle": None,
        "app_path": request.get_full_path(),
        "username": request.user.get_username(),
        "form": form,
        REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME, ""),
    }
    response = TemplateResponse(request, "admin/login.html", context, status=429)
    response["Retry-After"] = str(wait)
    return response
