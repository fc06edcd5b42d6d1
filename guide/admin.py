"""Admin for guides and versions: changelog entries inline, a diff preview, and Publish."""

from __future__ import annotations

import logging

from anymail.exceptions import AnymailError
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from guide import publishing
from guide.catchup import catch_up
from guide.markdown import render_markdown
from guide.models import SCHEDULED_NEEDS_TIME, ChangelogEntry, Guide, Version
from subscriptions import release_mail

logger = logging.getLogger(__name__)


@admin.register(Guide)
class GuideAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "latest_number"]
    prepopulated_fields = {"slug": ["title"]}
    search_fields = ["title", "slug"]
    # Django 5.x warns (RemovedInDjango60Warning) on a URLField form field that does not say which
    # scheme a bare "t.me/…" gets; the channel links are https.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="Latest published")
    def latest_number(self, guide: Guide) -> str:
        latest = guide.latest_version()
        return latest.number if latest else "—"


class ChangelogEntryInline(admin.TabularInline):
    model = ChangelogEntry
    extra = 1
    fields = ["order", "kind", "text"]


class VersionForm(forms.ModelForm):
    """Refuses a schedule that could never run: without a time, or for a version publish() would
    refuse (a number not above the latest published one), which would otherwise go back to draft
    only when due, with nothing but a line in the server log."""

    def clean(self) -> dict:
        cleaned = super().clean()
        # A published version's status is read-only, so "status" is absent and nothing is checked.
        if cleaned.get("status") != Version.Status.SCHEDULED:
            return cleaned
        if not cleaned.get("publish_at") and "publish_at" not in self.errors:
            self.add_error("publish_at", SCHEDULED_NEEDS_TIME)
        if {"guide", "number", "content"} <= cleaned.keys():
            # The version as it would be saved; publishing's own check says whether it could go out.
            candidate = Version(
                pk=self.instance.pk,
                guide=cleaned["guide"],
                number=cleaned["number"],
                content=cleaned["content"],
            )
            reason = publishing.refusal(candidate)
            if reason:
                self.add_error("status", f"It cannot be scheduled: {reason}")
        return cleaned


@admin.register(Version)
class VersionAdmin(admin.ModelAdmin):
    form = VersionForm
    list_display = ["__str__", "title", "status", "bump", "publish_at", "published_at"]
    list_filter = ["guide", "status", "bump"]
    search_fields = ["number", "title", "guide__slug"]
    inlines = [ChangelogEntryInline]
    actions = ["publish_selected"]
    readonly_fields = ["preview_link", "bump", "published_at", "created_by", "published_by"]
    fields = [
        "guide",
        "number",
        "title",
        "content",
        "status",
        "publish_at",
        "preview_link",
        "bump",
        "published_at",
        "created_by",
        "published_by",
    ]
    change_form_template = "admin/guide/version/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Version | None = None):
        # A published version is history: its number, content and status no longer change here.
        if obj is not None and obj.is_published:
            return [*self.readonly_fields, "guide", "number", "content", "status", "publish_at"]
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Version | None = None) -> bool:
        # A published version was mailed: subscribers' baselines, public URLs and feed entries point
        # at it, and the next release's diff starts from it. Only drafts can go.
        if obj is not None and obj.is_published:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        # The bulk action asked has_delete_permission per object first; this keeps it true even if
        # a version was published between the confirmation page and the POST.
        super().delete_queryset(request, queryset.exclude(status=Version.Status.PUBLISHED))

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "status":
            # "Published" is reached only through publish(), never by editing the field.
            kwargs["choices"] = [
                (value, label)
                for value, label in Version.Status.choices
                if value != Version.Status.PUBLISHED
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Version, form, change: bool) -> None:
        if obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="Preview")
    def preview_link(self, obj: Version) -> str:
        if obj.pk is None:
            return "Save the version to preview its diff."
        url = reverse("admin:guide_version_preview", args=[obj.pk])
        # For a published version too the preview compares with the version before it, not with the
        # latest published (which may be this one): say what the page shows.
        return format_html(
            '<a href="{}">Preview the diff from the version before it, and the release mail</a>',
            url,
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="guide_version_preview",
            ),
            path(
                "<int:pk>/publish/",
                self.admin_site.admin_view(self.publish_view),
                name="guide_version_publish",
            ),
            path(
                "<int:pk>/send-test/",
                self.admin_site.admin_view(self.send_test_view),
                name="guide_version_send_test",
            ),
            *super().get_urls(),
        ]

    def _can_publish(self, request: HttpRequest) -> bool:
        return request.user.has_perm("guide.publish_version")

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(Version.objects.select_related("guide"), pk=pk)
        if not self.has_view_or_change_permission(request, version):
            raise PermissionDenied
        since = version.previous()
        changes = catch_up(since, version)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Preview of {version}",
            "version": version,
            "since": since,
            "catchup": changes,
            "content_html": render_markdown(version.content),
            "can_publish": self._can_publish(request) and not version.is_published,
            # Shown instead of the Publish button: what publish() would answer.
            "refusal": None if version.is_published else publishing.refusal(version),
            "email": _release_mail_preview(version),
            "can_send_test": self.has_change_permission(request, version),
        }
        response = TemplateResponse(request, "admin/guide/version/preview.html", context)
        if context["email"]:
            # The mail's HTML keeps its <style> block and inlined style attributes (that is how mail
            # is styled) and renders in a sandboxed srcdoc iframe, which inherits this page's
            # Content-Security-Policy: so this page alone allows inline styles. Scripts stay
            # 'self'-only (and the sandbox runs none). A hash in style-src would switch
            # 'unsafe-inline' off, hence the replacement rather than an addition.
            response._csp_replace = {"style-src": ["'self'", "'unsafe-inline'"]}
        return response

    def send_test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Mail the release mail of this version to the signed-in user alone, marked [TEST]."""
        preview = reverse("admin:guide_version_preview", args=[pk])
        if request.method != "POST":
            return HttpResponseRedirect(preview)
        version = get_object_or_404(Version.objects.select_related("guide"), pk=pk)
        if not self.has_change_permission(request, version):
            raise PermissionDenied
        to = request.user.email
        if not to:
            self.message_user(
                request,
                "No test sent: your account has no email address. Add one to your user first.",
                messages.ERROR,
            )
            return HttpResponseRedirect(preview)
        try:
            release_mail.send_test(version, to)
        except (OSError, AnymailError) as exc:
            logger.exception("test mail of %s to the editor could not be sent", version)
            self.message_user(request, f"The test could not be sent: {exc}", messages.ERROR)
        else:
            self.message_user(request, f"Test sent to {to}.")
        return HttpResponseRedirect(preview)

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:guide_version_preview", args=[pk]))
        if not self._can_publish(request):
            raise PermissionDenied
        version = get_object_or_404(Version, pk=pk)
        self._publish(request, version)
        return HttpResponseRedirect(reverse("admin:guide_version_change", args=[pk]))

    def _publish(self, request: HttpRequest, version: Version) -> bool:
        try:
            published = publishing.publish(version, by=request.user)
        except publishing.PublishError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return False
        self.message_user(request, f"Published {published} ({published.bump} release).")
        return True

    @admin.action(description="Publish selected versions", permissions=["publish"])
    def publish_selected(self, request: HttpRequest, queryset) -> None:
        # Lowest number first, so selecting 0.10.0 and 0.10.1 together publishes both in order.
        for version in queryset.oldest_first():
            self._publish(request, version)

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return self._can_publish(request)


def _release_mail_preview(version: Version) -> dict[str, str]:
    """The release mail of `version` as a subscriber mailed the previous version would get it:
    subject, HTML and text, personal links shown as preview links."""
    mail = release_mail.example(version)
    # The text part opens with the preheader, the preview text inboxes show after the subject.
    preheader = mail.text.split("\n", 1)[0]
    return {"subject": mail.subject, "preheader": preheader, "text": mail.text, "html": mail.html}
