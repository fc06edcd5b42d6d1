"""Admin for subscribers: search, filters with counts, history, actions, CSV import and export.

Only the Admins group (and superusers) sees any of it; Editors have no subscriptions permission.
Status changes go through subscriptions.lifecycle (the actions), never through editing the field, and
nobody adds a subscriber by hand: addresses come in through the double opt-in form or an import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from subscriptions import addresses, exporting, importing, lifecycle
from subscriptions.models import Cadence, Subscriber, SubscriberEvent, SuppressedAddress

# The erase confirmation page names this many of the selected addresses, then says how many more.
ERASE_LIST_LIMIT = 50
ACTION_BATCH = 500


def _each(queryset: QuerySet[Subscriber]) -> Iterator[Subscriber]:
    """The subscribers of `queryset` in pk order, read in batches: an action on "all 1,000,000"
    neither loads them at once nor keeps a cursor open while it changes (or erases) them."""
    queryset = queryset.prefetch_related(None).order_by("pk")
    last = 0
    while batch := list(queryset.filter(pk__gt=last)[:ACTION_BATCH]):
        last = batch[-1].pk  # before yielding: erasing a subscriber clears its pk
        yield from batch


class SubscriberEventInline(admin.TabularInline):
    """The subscriber's history, newest first (the model's ordering); written only by lifecycle."""

    model = SubscriberEvent
    fields = ["created_at", "kind", "detail", "version"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "event"
    verbose_name_plural = "history"

    def get_queryset(self, request: HttpRequest) -> QuerySet[SubscriberEvent]:
        return super().get_queryset(request).select_related("version__guide")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV; first line email,guides,cadence (only email is required).",
    )
    consented = forms.BooleanField(
        required=False,
        label="These addresses consented",
        help_text="Tick only if every address agreed to receive the updates elsewhere: they are "
        "imported as confirmed and get no mail. Otherwise each new address gets a confirmation "
        "mail and stays pending until it confirms.",
    )


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "status", "cadence", "guide_list", "created_at", "confirmed_at"]
    list_filter = ["status", "guides", "cadence", "created_at", "confirmed_at"]
    search_fields = ["email"]
    show_full_result_count = True
    # The number of subscribers behind each filter choice, always shown.
    show_facets = admin.ShowFacets.ALWAYS
    list_per_page = 100
    inlines = [SubscriberEventInline]
    actions = ["resend_confirmation", "unsubscribe", "erase_selected"]
    fieldsets = [
        (None, {"fields": ["email", "status", "cadence", "guides"]}),
        (
            "Consent",
            {
                "fields": [
                    "source",
                    "consent_at",
                    "consent_ip",
                    "consent_user_agent",
                    "confirmed_at",
                ]
            },
        ),
        (
            "Mail",
            {
                "fields": [
                    "created_at",
                    "confirm_sent_at",
                    "unsubscribed_at",
                    "soft_bounces",
                    "last_bounce_at",
                ]
            },
        ),
    ]
    # Only the preferences (cadence, guides) are edited here; everything else is a record.
    readonly_fields = [
        "email",
        "status",
        "source",
        "consent_at",
        "consent_ip",
        "consent_user_agent",
        "confirmed_at",
        "created_at",
        "confirm_sent_at",
        "unsubscribed_at",
        "soft_bounces",
        "last_bounce_at",
    ]
    change_list_template = "admin/subscriptions/subscriber/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscriber]:
        return super().get_queryset(request).prefetch_related("guides")

    @admin.display(description="Guides")
    def guide_list(self, subscriber: Subscriber) -> str:
        return ", ".join(sorted(guide.slug for guide in subscriber.guides.all())) or "—"

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "guides":
            kwargs["widget"] = forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # --- Who may do what ---------------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Adding by hand would skip consent; the import (with its consent choice) is the way in.
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A plain delete would leave no suppression entry, so an import could bring the address back.
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("subscriptions.delete_subscriber")

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("subscriptions.add_subscriber")

    # --- Editing preferences -----------------------------------------------------------------------

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if {"cadence", "guides"} & set(form.changed_data):
            subscriber = form.instance
            slugs = ", ".join(sorted(g.slug for g in subscriber.guides.all())) or "no guides"
            lifecycle.record(
                subscriber,
                SubscriberEvent.Kind.PREFERENCES,
                f"by {request.user.get_username()} in the admin: "
                f"{Cadence(subscriber.cadence).label}; {slugs}",
            )

    # --- Actions -----------------------------------------------------------------------------------

    @admin.action(
        description="Resend confirmation mail to selected pending subscribers",
        permissions=["change"],
    )
    def resend_confirmation(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        sent = recent = not_pending = 0
        for subscriber in _each(queryset):
            if subscriber.status != Subscriber.Status.PENDING:
                not_pending += 1
            elif lifecycle.resend_confirmation(subscriber):
                sent += 1
            else:
                recent += 1
        parts = [f"Sent a new confirmation link to {sent} pending subscriber(s)."]
        if recent:
            parts.append(f"{recent} had one sent in the last few minutes and got nothing new.")
        if not_pending:
            parts.append(f"{not_pending} not pending (confirmed, unsubscribed, …) got nothing.")
        self.message_user(request, " ".join(parts), messages.SUCCESS if sent else messages.WARNING)

    @admin.action(description="Unsubscribe selected subscribers", permissions=["change"])
    def unsubscribe(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        total = queryset.count()
        changed = sum(lifecycle.unsubscribe(s, how="admin") for s in _each(queryset))
        message = f"Unsubscribed {changed} subscriber(s)."
        if total - changed:
            message += f" {total - changed} were already not receiving mail."
        self.message_user(request, message)

    @admin.action(
        description="Erase selected subscribers (delete all their data)", permissions=["erase"]
    )
    def erase_selected(
        self, request: HttpRequest, queryset: QuerySet[Subscriber]
    ) -> HttpResponse | None:
        if request.POST.get("post") == "yes":
            erased = 0
            for subscriber in _each(queryset):
                lifecycle.erase(subscriber, how=f"admin {request.user.get_username()}")
                erased += 1
            self.message_user(
                request,
                f"Erased {erased} subscriber(s): their data is deleted and their addresses are on "
                "the suppression list, so an import cannot add them again.",
            )
            return None  # back to the change list
        # Like delete_selected: a page naming what will go, posted back with post=yes to confirm.
        count = queryset.count()
        context = {
            **self.admin_site.each_context(request),
            "title": "Erase subscribers",
            "opts": self.model._meta,
            "count": count,
            "shown": list(queryset.values_list("email", flat=True)[:ERASE_LIST_LIMIT]),
            "more": max(count - ERASE_LIST_LIMIT, 0),
            "select_across": request.POST.get("select_across") == "1",
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/subscriptions/subscriber/erase_confirmation.html", context
        )

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # --- Import and export -------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="subscriptions_subscriber_import",
            ),
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="subscriptions_subscriber_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        export_url = reverse("admin:subscriptions_subscriber_export")
        if request.GET:
            export_url += "?" + request.GET.urlencode()  # export what the list shows
        extra_context = {
            **(extra_context or {}),
            "has_import_permission": self.has_import_permission(request),
            "export_url": export_url,
        }
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        report = None
        if request.method == "POST":
            form = ImportForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    result = importing.import_subscribers(
                        form.cleaned_data["file"], consented=form.cleaned_data["consented"]
                    )
                except importing.ImportRejected as exc:
                    report = exc.report
                else:
                    self.message_user(request, _result_message(result, form))
                    return HttpResponseRedirect(
                        reverse("admin:subscriptions_subscriber_changelist")
                    )
        else:
            form = ImportForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Import subscribers from CSV",
            "opts": self.model._meta,
            "form": form,
            "report": report,
            "columns": importing.COLUMNS,
        }
        status = 400 if report is not None or form.errors else 200
        return TemplateResponse(
            request, "admin/subscriptions/subscriber/import.html", context, status=status
        )

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            queryset = self.get_changelist_instance(request).queryset
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:subscriptions_subscriber_changelist"))
        response = StreamingHttpResponse(
            exporting.iter_csv_text(exporting.iter_csv_rows(queryset)),
            content_type="text/csv; charset=utf-8",
        )
        filename = f"mlmw-subscribers-{timezone.now():%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "private, no-store"
        return response


def _result_message(result: importing.ImportResult, form: ImportForm) -> str:
    state = (
        "confirmed" if form.cleaned_data["consented"] else "pending, each sent a confirmation mail"
    )
    return (
        f"Imported {form.cleaned_data['file'].name}: {result.rows} rows, "
        f"{result.created} new subscribers ({state}), {result.merged} merged into existing ones, "
        f"{result.suppressed_skipped} skipped as erased addresses."
    )


@admin.register(SuppressedAddress)
class SuppressedAddressAdmin(admin.ModelAdmin):
    """The suppression list, view only: entries come from erasure and go with fresh consent."""

    list_display = ["address_hash", "reason", "created_at"]
    list_filter = ["reason", "created_at"]
    search_fields = ["address_hash"]
    search_help_text = "Search by an address: it is hashed the same way and looked up."

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        term = search_term.strip()
        if "@" in term:
            # The list holds only keyed hashes; hash the address to ask whether it is on it.
            with contextlib.suppress(ValidationError):  # stored hashes are of normalised addresses
                term = addresses.normalize_address(term)
            return queryset.filter(address_hash=addresses.suppression_hash(term)), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
