"""Visitor pages of access on request: the request form, verification, and the personal link.

Thin: logic is in access.lifecycle, serving in access.serving. The form shares the subscription
form's address rules, rate limits, honeypot and one answer (subscriptions.forms, .views).
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe
from django_ratelimit.core import is_ratelimited

from access import lifecycle, notices, privacy, serving
from access.forms import RequestForm
from access.models import Artifact, ArtifactRevision, Download, Grant, GrantToken, hash_token
from mlmw.proxy import client_ip
from subscriptions import form_requests
from subscriptions import lifecycle as subscriptions_lifecycle
from subscriptions.models import Subscriber
from subscriptions.views import check_inbox, over_address_limits, visitor


def _requestable(pk: int) -> Artifact:
    return get_object_or_404(
        Artifact.objects.select_related("guide"),
        pk=pk,
        kind=Artifact.Kind.FILE,
        policy=Artifact.Policy.ON_REQUEST,
    )


@require_http_methods(["GET", "POST"])
def request_access(request: HttpRequest, pk: int) -> HttpResponse:
    artifact = _requestable(pk)
    if request.method == "GET":
        return render(request, "access/request.html", {"artifact": artifact, "form": RequestForm()})
    form = RequestForm(request.POST)
    if not form.is_valid():
        return render(
            request, "access/request.html", {"artifact": artifact, "form": form}, status=400
        )
    address = form.cleaned_data["email"]
    answer = check_inbox(request, purpose="verify your request")
    if form.is_bot or over_address_limits(request, address):
        return answer
    # Stored, then decided by a task (subscriptions.form_requests), so this view reads no request:
    # the same work and time for every address, and a broker outage loses nothing.
    choices = {
        name: form.cleaned_data[name]
        for name in ("name", "reason", "want_updates", "want_revisions")
    }
    form_requests.submit(
        form_requests.ACCESS,
        address,
        {"artifact_id": artifact.pk, "address": address, "choices": choices},
    )
    return answer


def _verify_failed(request: HttpRequest, reason: str, status: int) -> HttpResponse:
    return render(request, "access/verify_failed.html", {"reason": reason}, status=status)


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a Verify button (mail scanners open links); only the POST verifies."""
    try:
        access_request = lifecycle.check_verify_token(token)
    except lifecycle.VerifyError as exc:
        return _verify_failed(request, exc.reason, 400 if exc.reason == "invalid" else 410)
    if request.method == "GET":
        return render(request, "access/verify.html", {"access_request": access_request})
    try:
        access_request = lifecycle.verify(token, visitor(request))
    except lifecycle.VerifyError as exc:
        return _verify_failed(request, exc.reason, 410)
    return render(request, "access/verified.html", {"access_request": access_request})


def _unusable(request: HttpRequest, reason: str, artifact: Artifact | None) -> HttpResponse:
    # One page and one status for every link that does not work: it says why only to someone who
    # holds a real link, and names nothing but that link's own artifact.
    response = render(
        request, "access/link_unusable.html", {"reason": reason, "artifact": artifact}, status=410
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _too_many_downloads(request: HttpRequest) -> HttpResponse | None:
    """429 once this IP is over ACCESS_DOWNLOAD_RATE_PER_IP, counted over personal and public
    downloads together (each holds a web thread for as long as the transfer takes)."""
    if not is_ratelimited(
        request,
        group="access-download-ip",
        key="ip",
        rate=settings.ACCESS_DOWNLOAD_RATE_PER_IP,
        increment=True,
    ):
        return None
    response = render(request, "access/slow_down.html", status=429)
    response["Retry-After"] = "60"
    return response


def _link(token: str) -> GrantToken | None:
    """The personal link of `token`, with its grant and artifact, or None."""
    return (
        GrantToken.objects.select_related("grant__artifact")
        .filter(token_hash=hash_token(token))
        .first()
    )


@require_safe
def link_page(request: HttpRequest, token: str) -> HttpResponse:
    """What a personal link opens: the file, its size, the downloads left, the expiry and a button.

    Opening it counts nothing, so a mail scanner that follows every link uses nothing up."""
    link = _link(token)
    if link is None:
        return _unusable(request, "invalid", None)
    grant = link.grant
    if problem := grant.problem():
        return _unusable(request, problem, grant.artifact)
    revision = grant.artifact.latest_revision()
    if revision is None:
        return _unusable(request, "unavailable", grant.artifact)
    context = {
        "grant": grant,
        "artifact": grant.artifact,
        "revision": revision,
        "downloads_left": grant.max_downloads - grant.download_count,
        "file_url": reverse("access:file", args=[token]),
    }
    response = render(request, "access/link.html", context)
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "HEAD"])
def download(request: HttpRequest, token: str) -> HttpResponse:
    """The file behind a personal link. A new download counts once against the cap; a resumed one
    (a Range that starts past the first byte, within ACCESS_RESUME_HOURS of a counted download of
    the same grant) and HEAD count nothing."""
    if refused := _too_many_downloads(request):
        return refused
    link = _link(token)
    if link is None:
        return _unusable(request, "invalid", None)
    grant = link.grant
    artifact = grant.artifact
    problem = grant.problem()
    # A transfer under way may finish after its download used up the last one.
    if problem and (problem != "used_up" or not _resumable(request, grant)):
        return _unusable(request, problem, artifact)
    revision = artifact.latest_revision()
    if revision is None:
        return _unusable(request, "unavailable", artifact)
    try:
        byte_range = serving.wanted_range(request, revision)
    except serving.Unsatisfiable:
        return serving.unsatisfiable(revision)
    resuming = byte_range is not None and byte_range[0] > 0 and _resumable(request, grant)
    if request.method == "GET" and not resuming:
        # Count and log under a conditional update, so parallel requests cannot pass the cap.
        with transaction.atomic():
            counted = (
                Grant.objects.live()
                .filter(pk=grant.pk)
                .update(download_count=F("download_count") + 1)
            )
            if not counted:
                return _unusable(request, "used_up", artifact)
            Download.objects.create(
                grant=grant,
                revision=revision,
                at=timezone.now(),
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
                byte_range=request.headers.get("Range", "")[:60] if byte_range else "",
            )
    return serving.serve(request, revision, byte_range)


def _resumable(request: HttpRequest, grant: Grant) -> bool:
    """Whether this request continues a counted download: a Range past the first byte, and a
    download of this grant counted within ACCESS_RESUME_HOURS."""
    header = request.headers.get("Range", "")
    if not header or header.replace(" ", "").startswith(("bytes=0-", "bytes=-")):
        return False
    since = timezone.now() - timedelta(hours=settings.ACCESS_RESUME_HOURS)
    return grant.downloads.filter(at__gte=since).exists()


@require_safe
def public_download(request: HttpRequest, pk: int, revision_pk: int) -> HttpResponse:
    """A revision anyone may download: of a public file artifact, or one marked public."""
    if refused := _too_many_downloads(request):
        return refused
    revision = get_object_or_404(
        ArtifactRevision.objects.select_related("artifact"), pk=revision_pk, artifact_id=pk
    )
    if revision.pk != getattr(revision.artifact.public_revision(), "pk", None) and not (
        revision.public
    ):
        raise Http404("This revision is not public.")
    try:
        byte_range = serving.wanted_range(request, revision)
    except serving.Unsatisfiable:
        return serving.unsatisfiable(revision)
    return serving.serve(request, revision, byte_range)


@csrf_exempt  # RFC 8058: mail clients POST with no cookie and no CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def stop_notices(request: HttpRequest, token: str) -> HttpResponse:
    """Stop "new revision" notices for one grant: GET shows a button, POST (or one-click) stops."""
    grant = notices.read_stop_token(token)
    if grant is None:
        return render(request, "subscriptions/invalid_link.html", status=400)
    if request.method == "POST":
        notices.stop(grant)
    return render(
        request,
        "access/stop_notices.html",
        {"stopped": request.method == "POST", "artifact": grant.artifact},
    )


def _data_owner(request: HttpRequest, token: str) -> str | HttpResponse:
    """The address key of a "your data" link, or the page saying why there is none."""
    try:
        email_key = privacy.read_data_token(token)
    except privacy.BadToken:
        return render(request, "subscriptions/invalid_link.html", status=400)
    if email_key is None:
        return render(request, "access/my_data.html", {"gone": True}, status=410)
    return email_key


@require_http_methods(["GET", "POST"])
def my_data(request: HttpRequest, token: str) -> HttpResponse:
    """Self-service for anyone who asked for an artifact, subscriber or not: what we hold, a JSON
    download of it, and erasure (POST with the box ticked)."""
    email_key = _data_owner(request, token)
    if isinstance(email_key, HttpResponse):
        return email_key
    requests = privacy.export(email_key)
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            context = {"requests": requests, "token": token, "erase_error": True}
            return render(request, "access/my_data.html", context, status=400)
        subscriber = Subscriber.objects.filter(email_key=email_key).first()
        if subscriber is not None:  # their subscription goes too, with its suppression entry
            subscriptions_lifecycle.erase(subscriber, how="self-service (access link)")
        privacy.erase(email_key)
        return render(request, "access/my_data.html", {"erased": True})
    return render(request, "access/my_data.html", {"requests": requests, "token": token})


@require_safe
def my_data_export(request: HttpRequest, token: str) -> HttpResponse:
    email_key = _data_owner(request, token)
    if isinstance(email_key, HttpResponse):
        return email_key
    response = HttpResponse(
        json.dumps({"access_requests": privacy.export(email_key)}, indent=2),
        content_type="application/json",
    )
    response["Content-Disposition"] = 'attachment; filename="mlmw-access-requests.json"'
    return response
