"""Admin of access on request: artifacts with their uploaded revisions, requests to review, grants.

Who sees what: Admins (the `review_all` permission) and superusers see every guide's artifacts and
requests; Editors only those of guides they are Reviewers of. Decisions go through access.lifecycle
(approve, deny, revoke), never through editing a status.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from access import lifecycle, notices
from access.forms import RevisionForm
from access.models import AccessRequest, Artifact, ArtifactRevision, Download, Grant, Reviewer


def reviews_all(request: HttpRequest) -> bool:
    return request.user.has_perm("access.review_all")


def reviewed_guides(request: HttpRequest):
    return Reviewer.objects.filter(user=request.user).values("guide_id")


class ScopedToGuide:
    """Editors see and change only rows of guides they review; `guide_path` leads to the guide."""

    guide_path = "guide"

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)
        if reviews_all(request):
            return queryset
        return queryset.filter(**{f"{self.guide_path}__in": reviewed_guides(request)})


class RevisionInline(admin.TabularInline):
    model = ArtifactRevision
    form = RevisionForm
    fields = ["file", "public", "note", "original_name", "content_type", "size", "created_at"]
    readonly_fields = ["original_name", "content_type", "size", "created_at"]
    extra = 1


@admin.register(Artifact)
class ArtifactAdmin(ScopedToGuide, admin.ModelAdmin):
    list_display = ["title", "guide", "kind", "policy", "order"]
    list_filter = ["guide", "kind", "policy"]
    inlines = [RevisionInline]
    fieldsets = [
        (None, {"fields": ["guide", "title", "intent", "kind", "url", "policy", "order"]}),
        ("Auto-approve", {"fields": ["auto_approve_subscribers", "auto_approve_domains"]}),
    ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "guide" and not reviews_all(request):
            from guide.models import Guide

            kwargs["queryset"] = Guide.objects.filter(pk__in=reviewed_guides(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "url":
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        revisions = formset.save(commit=False)
        for revision in revisions:
            new = revision.pk is None
            if new:
                revision.uploaded_by = request.user
            revision.save()
            if new:
                # Grant holders who asked hear of it once, through the release delivery pipeline;
                # the notice is opened in this transaction (the admin's), so it cannot be lost.
                notices.revision_uploaded(revision.pk)
        for obj in formset.deleted_objects:
            obj.delete()


class DecisionForm(forms.Form):
    message = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Optional: included in the mail to each requester.",
    )


class ReadOnlyInline(admin.TabularInline):
    """Rows written only by access.lifecycle and the download view: shown, never edited here."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.fields


class GrantInline(ReadOnlyInline):
    model = Grant
    fields = ["created_at", "expires_at", "revoked_at", "download_count", "max_downloads"]


@admin.register(AccessRequest)
class AccessRequestAdmin(ScopedToGuide, admin.ModelAdmin):
    guide_path = "artifact__guide"
    list_display = ["email", "name", "artifact", "status", "created_at", "decided_at"]
    list_filter = ["artifact", "status", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["email", "name"]
    date_hierarchy = "created_at"
    actions = ["approve_selected", "deny_selected", "resend_link", "erase_selected"]
    readonly_fields = [
        "artifact", "email", "name", "reason", "want_updates", "want_revisions", "status",
        "created_at", "verified_at", "verified_ip", "verified_user_agent", "decided_at",
        "decided_by", "auto_approved", "message",
    ]  # fmt: skip
    fields = readonly_fields
    inlines = [GrantInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requests come in through the public form only

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Approve selected requests (mails each a personal link)",
                  permissions=["change"])  # fmt: skip
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[AccessRequest]):
        return self._decide(request, queryset, approved=True)

    @admin.action(description="Deny selected requests (mails each a polite note)",
                  permissions=["change"])  # fmt: skip
    def deny_selected(self, request: HttpRequest, queryset: QuerySet[AccessRequest]):
        return self._decide(request, queryset, approved=False)

    def _decide(
        self, request: HttpRequest, queryset: QuerySet[AccessRequest], *, approved: bool
    ) -> HttpResponse | None:
        action = "approve_selected" if approved else "deny_selected"
        form = DecisionForm(request.POST if request.POST.get("post") == "yes" else None)
        if form.is_bound and form.is_valid():
            pending = list(queryset.filter(status=AccessRequest.Status.PENDING))
            done = lifecycle.decide_all(
                pending, approved=approved, by=request.user, message=form.cleaned_data["message"]
            )
            skipped = queryset.count() - done
            verb = "Approved" if approved else "Denied"
            text = f"{verb} {done} request(s)."
            if skipped:
                text += f" {skipped} not waiting for review were left as they were."
            self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)
            return None
        # An intermediate page: the optional message, then the same action posted with post=yes.
        context = {
            **self.admin_site.each_context(request),
            "title": "Approve requests" if approved else "Deny requests",
            "opts": self.model._meta,
            "form": form,
            "approved": approved,
            "requests": list(queryset.select_related("artifact")[:100]),
            "count": queryset.count(),
            "action": action,
            "select_across": request.POST.get("select_across") == "1",
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/access/accessrequest/decide.html", context)

    @admin.action(description="Resend link (mails each approved request's live grant a new link)",
                  permissions=["change"])  # fmt: skip
    def resend_link(self, request: HttpRequest, queryset: QuerySet[AccessRequest]) -> None:
        grants = Grant.objects.filter(request__in=queryset)
        sent = lifecycle.resend_links(grants)
        left = "without a live grant (not approved, or revoked, expired or used up)"
        report_resend(self, request, sent, queryset.count(), left=left)

    @admin.action(description="Erase selected requests (and their links)", permissions=["delete"])
    def erase_selected(self, request: HttpRequest, queryset: QuerySet[AccessRequest]) -> None:
        count = queryset.count()
        queryset.delete()  # grants and download logs go with them
        self.message_user(request, f"Erased {count} request(s) and their links.")


class DownloadInline(ReadOnlyInline):
    model = Download
    fields = ["at", "ip", "user_agent", "byte_range", "revision"]


def report_resend(
    model_admin: admin.ModelAdmin, request: HttpRequest, sent: int, asked: int, *, left: str
) -> None:
    text = f"Mailed a new link to {sent} holder{'s' if sent != 1 else ''}."
    if asked > sent:
        text += f" {asked - sent} {left} got none."
    model_admin.message_user(request, text, messages.SUCCESS if sent else messages.WARNING)


@admin.register(Grant)
class GrantAdmin(ScopedToGuide, admin.ModelAdmin):
    guide_path = "artifact__guide"
    list_display = [
        "__str__", "request", "expires_at", "revoked_at", "download_count", "link_sent_at",
    ]  # fmt: skip
    # "Link last mailed: empty" lists the grants whose link mail never got through: resend those.
    list_filter = [
        "artifact",
        ("revoked_at", admin.EmptyFieldListFilter),
        ("link_sent_at", admin.EmptyFieldListFilter),
    ]
    fields = [
        "request", "artifact", "created_at", "expires_at", "revoked_at", "download_count",
        "max_downloads", "notify_revisions", "link_sent_at",
    ]  # fmt: skip
    readonly_fields = fields
    inlines = [DownloadInline]
    actions = ["resend_link", "revoke_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Resend link (mails each a new link)", permissions=["change"])
    def resend_link(self, request: HttpRequest, queryset: QuerySet[Grant]) -> None:
        sent = lifecycle.resend_links(queryset)
        left = "not live (revoked, expired or used up)"
        report_resend(self, request, sent, queryset.count(), left=left)

    @admin.action(description="Revoke selected links", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Grant]) -> None:
        revoked = lifecycle.revoke(queryset)
        self.message_user(request, f"Revoked {revoked} link(s).")


@admin.register(Reviewer)
class ReviewerAdmin(admin.ModelAdmin):
    list_display = ["user", "guide"]
    list_filter = ["guide"]
