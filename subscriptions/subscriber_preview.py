"""Preview as a subscriber, in the admin: the mail a subscriber would get next of a version (a draft
too), HTML and text, exactly as release_mail.next_mail_for builds it for the fan-out, and "Send a
test to me". Reached from the subscriber's page and from a draft version's page. For a digest
reader the mail they get next is their digest: the one digest_mail.next_digest builds as the digest
run would at their next slot, when that is, and its own "Send a test to me".

The views take the SubscriberAdmin they serve (its permissions, its admin site), which wires them
into its URLs.
"""

from __future__ import annotations

import logging

from anymail.exceptions import AnymailError
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from guide.models import Version
from subscriptions import addresses, digest_mail, release_mail
from subscriptions.models import Subscriber

logger = logging.getLogger(__name__)


def upcoming(subscriber: Subscriber) -> list[Version]:
    """The versions not yet published of the guides the subscriber follows, newest first per guide:
    what their next mail can be about."""
    published = Version.Status.PUBLISHED
    return list(
        Version.objects.filter(guide__in=subscriber.guides.all())
        .exclude(status=published)
        .select_related("guide")
        .order_by("guide__title", "-major", "-minor", "-patch")
    )


def links(subscriber: Subscriber) -> str:
    """The subscriber page's links to the preview of each upcoming version (for a digest reader,
    of their next digest first)."""
    digest = ""
    if subscriber.gets_digests:
        when = digest_mail.next_slot(subscriber)
        digest = format_html(
            '<p><a href="{}">Their next {} ({})</a></p>',
            reverse("admin:subscriptions_subscriber_next_digest", args=[subscriber.pk]),
            subscriber.get_cadence_display().removeprefix("A ").lower(),
            digest_mail.local(when, subscriber) if when is not None else "not confirmed",
        )
    return format_html("{}{}", digest, _version_links(subscriber))


def _version_links(subscriber: Subscriber) -> str:
    rows = [
        (
            reverse("admin:subscriptions_subscriber_next_mail", args=[subscriber.pk, v.pk]),
            v.guide.title,
            v.number,
            v.get_status_display().lower(),
        )
        for v in upcoming(subscriber)
    ]
    if not rows:
        return "No draft of a guide they follow: nothing to preview."
    return format_html(
        "<ul>{}</ul>",
        format_html_join("", '<li><a href="{}">The mail of {} {} ({})</a></li>', rows),
    )


def urls(model_admin: admin.ModelAdmin) -> list:
    wrap = model_admin.admin_site.admin_view
    return [
        path(
            "preview-as/",
            wrap(lambda request: preview_as(model_admin, request)),
            name="subscriptions_subscriber_preview_as",
        ),
        path(
            "<int:pk>/next-mail/<int:version_id>/",
            wrap(lambda request, pk, version_id: next_mail(model_admin, request, pk, version_id)),
            name="subscriptions_subscriber_next_mail",
        ),
        path(
            "<int:pk>/next-mail/<int:version_id>/send-test/",
            wrap(lambda request, pk, version_id: send_test(model_admin, request, pk, version_id)),
            name="subscriptions_subscriber_next_mail_test",
        ),
        path(
            "<int:pk>/next-digest/",
            wrap(lambda request, pk: next_digest(model_admin, request, pk)),
            name="subscriptions_subscriber_next_digest",
        ),
        path(
            "<int:pk>/next-digest/send-test/",
            wrap(lambda request, pk: send_digest_test(model_admin, request, pk)),
            name="subscriptions_subscriber_next_digest_test",
        ),
    ]


def preview_as(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The draft version page's form: an address and a version → that subscriber's preview."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    version = get_object_or_404(Version, pk=request.GET.get("version", "0") or "0")
    address = request.GET.get("email", "").strip()
    subscriber = Subscriber.objects.filter(email_key=addresses.key(address)).first()
    if subscriber is None:
        model_admin.message_user(
            request, f"No subscriber has the address {address!r}.", messages.ERROR
        )
        return HttpResponseRedirect(reverse("admin:guide_version_change", args=[version.pk]))
    return HttpResponseRedirect(
        reverse("admin:subscriptions_subscriber_next_mail", args=[subscriber.pk, version.pk])
    )


def next_mail(
    model_admin: admin.ModelAdmin, request: HttpRequest, pk: int, version_id: int
) -> HttpResponse:
    subscriber = get_object_or_404(Subscriber, pk=pk)
    if not model_admin.has_view_permission(request, subscriber):
        raise PermissionDenied
    version = get_object_or_404(Version.objects.select_related("guide"), pk=version_id)
    if subscriber.gets_digests:
        # The mail they get next is their digest, whatever the version.
        return next_digest(model_admin, request, pk, version)
    email = _shown(release_mail.next_mail_for(subscriber, version))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"The mail {subscriber} would get of {version}",
        "subscriber": subscriber,
        "version": version,
        "since": release_mail.baseline_of(subscriber, version),
        "left_out": release_mail.left_out(subscriber, version),
        "email": email,
        "can_send_test": model_admin.has_change_permission(request, subscriber),
    }
    return _mail_page(request, "admin/subscriptions/subscriber/next_mail.html", context)


def next_digest(
    model_admin: admin.ModelAdmin, request: HttpRequest, pk: int, version: Version | None = None
) -> HttpResponse:
    """A digest reader's next digest as the digest run would send it at their next slot (reached
    from a draft `version` too: it joins that digest if published before then)."""
    subscriber = get_object_or_404(Subscriber, pk=pk)
    if not model_admin.has_view_permission(request, subscriber):
        raise PermissionDenied
    found = digest_mail.next_digest(subscriber)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"The next digest {subscriber} would get",
        "subscriber": subscriber,
        "version": version,
        "when": digest_mail.local(found.when, subscriber) if found.when is not None else "",
        "due": found.due,
        "left_out": found.left_out,
        "email": _shown(found.message),
        "can_send_test": model_admin.has_change_permission(request, subscriber),
    }
    return _mail_page(request, "admin/subscriptions/subscriber/next_digest.html", context)


def _shown(message: EmailMultiAlternatives | None) -> dict[str, str] | None:
    if message is None:
        return None
    [(html, _)] = message.alternatives
    return {"subject": message.subject, "text": message.body, "html": html}


def _mail_page(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    response = TemplateResponse(request, template, context)
    if context["email"]:
        # As the version preview (guide/admin.py): the mail's inline CSS renders in a sandboxed
        # srcdoc iframe, which inherits this page's policy; so this page alone allows inline style.
        response._csp_replace = {"style-src": ["'self'", "'unsafe-inline'"]}
    return response


def send_test(
    model_admin: admin.ModelAdmin, request: HttpRequest, pk: int, version_id: int
) -> HttpResponse:
    """Mail the subscriber's next mail to the signed-in admin alone, marked [TEST]."""
    back = reverse("admin:subscriptions_subscriber_next_mail", args=[pk, version_id])
    if request.method != "POST":
        return HttpResponseRedirect(back)
    subscriber = get_object_or_404(Subscriber, pk=pk)
    if not model_admin.has_change_permission(request, subscriber):
        raise PermissionDenied
    version = get_object_or_404(Version.objects.select_related("guide"), pk=version_id)
    to = request.user.email
    if not to:
        model_admin.message_user(
            request, "No test sent: your account has no email address.", messages.ERROR
        )
        return HttpResponseRedirect(back)
    try:
        release_mail.send_preview_test(subscriber, version, to)
    except (OSError, AnymailError) as exc:
        logger.exception("test mail of %s to the admin could not be sent", version)
        model_admin.message_user(request, f"The test could not be sent: {exc}", messages.ERROR)
    else:
        model_admin.message_user(request, f"Test sent to {to}.")
    return HttpResponseRedirect(back)


def send_digest_test(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    """Mail the reader's next digest to the signed-in admin alone, marked [TEST]."""
    back = reverse("admin:subscriptions_subscriber_next_digest", args=[pk])
    if request.method != "POST":
        return HttpResponseRedirect(back)
    subscriber = get_object_or_404(Subscriber, pk=pk)
    if not model_admin.has_change_permission(request, subscriber):
        raise PermissionDenied
    to = request.user.email
    if not to:
        model_admin.message_user(
            request, "No test sent: your account has no email address.", messages.ERROR
        )
        return HttpResponseRedirect(back)
    try:
        sent = digest_mail.send_test(subscriber, to)
    except (OSError, AnymailError) as exc:
        logger.exception("test digest of a subscriber to the admin could not be sent")
        model_admin.message_user(request, f"The test could not be sent: {exc}", messages.ERROR)
    else:
        if sent:
            model_admin.message_user(request, f"Test sent to {to}.")
        else:
            model_admin.message_user(
                request, "No test sent: nothing new for their next digest.", messages.WARNING
            )
    return HttpResponseRedirect(back)
