"""Admin for subscribers: search, filters with counts, history, actions, CSV import and export.

Only the Admins group (and superusers) sees any of it; Editors have no subscriptions permission.
Status changes go through subscriptions.lifecycle (the actions), never through editing the field, and
nobody adds a subscriber by hand: addresses come in through the double opt-in form or an import.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from guide.models import Guide
from subscriptions import (
    addresses,
    exporting,
    importing,
    ledger,
    lifecycle,
    progress,
    resend,
    subscriber_preview,
)
from subscriptions import delivery as fanout
from subscriptions.models import (
    Baseline,
    Batch,
    Delivery,
    ImportJob,
    Mailing,
    Subscriber,
    SubscriberEvent,
    SuppressedAddress,
)
from subscriptions.tasks import run_import, send_batch

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
    skip_bad_rows = forms.BooleanField(
        required=False,
        label="Import the good rows and skip the bad ones",
        help_text="Without this, one bad row stops the whole file and nothing is imported. With it, "
        "the good rows are imported and the bad ones are listed, with a report to download.",
    )


RECENT_DELIVERIES = 20
# Lists longer than this show the planner's estimate ("about N") instead of an exact count.
ESTIMATE_ABOVE = 100_000


class EstimatedCountPaginator(Paginator):
    """A paginator whose count of a large list is PostgreSQL's estimate, not a COUNT(*) scan.

    An exact count of a million rows (or of a filtered join) takes seconds; the planner's estimate
    of the same query takes a millisecond and is close enough to say "about N subscribers" and to
    page through. Small lists, and SQLite, are counted exactly.
    """

    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if connection.vendor == "postgresql" and hasattr(queryset, "query"):
            sql, params = queryset.order_by().query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
                plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            estimate = int(plan[0]["Plan"]["Plan Rows"])
            if estimate > ESTIMATE_ABOVE:
                self.estimated = True
                return estimate
        return super().count


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "status", "cadence", "guide_list", "created_at", "confirmed_at"]
    list_filter = ["status", "guides", "cadence", "created_at", "confirmed_at"]
    search_fields = ["email"]  # any part of it: a trigram index serves it (migration 0008)
    # At a million rows every count is a scan: one count per page (estimated when large, see
    # EstimatedCountPaginator), and the counts behind each filter choice only when asked for.
    show_full_result_count = False
    show_facets = admin.ShowFacets.ALLOW
    paginator = EstimatedCountPaginator
    # Newest first by id, which an index serves; the model's "-created_at" would sort every row on
    # every page (ids and creation times go up together; a column header still sorts by date).
    ordering = ["-pk"]
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
        ("Deliveries", {"fields": ["last_mailed_versions", "recent_deliveries"]}),
        ("Preview as this subscriber", {"fields": ["next_mail"]}),
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
        "last_mailed_versions",
        "recent_deliveries",
        "next_mail",
    ]
    change_list_template = "admin/subscriptions/subscriber/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscriber]:
        return super().get_queryset(request).prefetch_related("guides")

    @admin.display(description="The mail they would get next")
    def next_mail(self, subscriber: Subscriber) -> str:
        return subscriber_preview.links(subscriber)

    @admin.display(description="Last version mailed, per guide")
    def last_mailed_versions(self, subscriber: Subscriber) -> str:
        baselines = list(
            Baseline.objects.filter(subscriber=subscriber)
            .select_related("version__guide")
            .order_by("guide__title")
        )
        if not baselines:
            return "None yet: the first release mail shows the change since they started following."
        # A baseline is a mailed version, or the live one when they started following the guide.
        mailed = set(
            Delivery.objects.filter(
                subscriber=subscriber, status__in=[Delivery.Status.SENT, Delivery.Status.BOUNCED]
            )
            .filter(
                Q(mailing__version__in=[b.version_id for b in baselines])
                | Q(mailing__resend_of__version__in=[b.version_id for b in baselines])
            )
            .values_list("mailing__version", "mailing__resend_of__version")
        )
        mailed_versions = {v for pair in mailed for v in pair if v is not None}
        rows = [
            (
                b.version.guide.title,
                reverse("admin:guide_version_change", args=[b.version_id]),
                b.version.number,
                "mailed" if b.version_id in mailed_versions else "live when they started following",
                b.updated_at.strftime("%Y-%m-%d %H:%M"),
            )
            for b in baselines
        ]
        body = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>',
            rows,
        )
        return format_html(
            '<table class="last-mailed"><thead><tr><th>Guide</th><th>Version</th><th>How</th>'
            "<th>Since</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    @admin.display(description=f"Last {RECENT_DELIVERIES} deliveries")
    def recent_deliveries(self, subscriber: Subscriber) -> str:
        deliveries = (
            Delivery.objects.filter(subscriber=subscriber)
            .select_related(
                "mailing__version__guide", "mailing__resend_of__version__guide", "since_version"
            )
            .order_by("-id")[:RECENT_DELIVERIES]
        )
        rows = [
            (
                reverse("admin:subscriptions_mailing_change", args=[d.mailing_id]),
                str(d.mailing),
                reverse("admin:subscriptions_delivery_change", args=[d.pk]),
                d.get_status_display(),
                d.since_version.number if d.since_version else "-",
                d.sent_at.strftime("%Y-%m-%d %H:%M") if d.sent_at else "-",
                d.error or "",
            )
            for d in deliveries
        ]
        if not rows:
            return "No mail sent yet."
        body = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            rows,
        )
        every = reverse("admin:subscriptions_delivery_changelist") + f"?subscriber={subscriber.pk}"
        return format_html(
            '<table class="recent-deliveries"><thead><tr><th>Mailing</th><th>Status</th>'
            "<th>Since</th><th>Sent at</th><th>Error</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">Every delivery to this subscriber</a></p>',
            body,
            every,
        )

    @admin.display(description="Guides")
    def guide_list(self, subscriber: Subscriber) -> str:
        return ", ".join(sorted(guide.slug for guide in subscriber.guides.all())) or "—"

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "guides":
            kwargs["widget"] = forms.CheckboxSelectMultiple
            kwargs["help_text"] = "None ticked means all guides, as on the subscriber's own page."
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
        # The guides are stored by lifecycle.update_preferences, not by the form's save_m2m(): one
        # rule for the admin and the subscriber's own page. There, no guide ticked means all guides
        # (stored as a link to each); saving no links here would look saved and silently stop all
        # release mail, since the audience of a release is read from the links. Refusing an empty
        # choice instead would give the same choice two meanings. It also starts the baselines of
        # guides gained, so their first mail is the change since today's version.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
        if {"cadence", "guides"} & set(form.changed_data):
            lifecycle.update_preferences(
                form.instance,
                guides=form.cleaned_data["guides"],
                cadence=form.instance.cadence,
                how=f"by {request.user.get_username()} in the admin",
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
                "import/<int:job_id>/",
                self.admin_site.admin_view(self.import_job_view),
                name="subscriptions_subscriber_import_job",
            ),
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="subscriptions_subscriber_export",
            ),
            *subscriber_preview.urls(self),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        export_url = reverse("admin:subscriptions_subscriber_export")
        query = request.GET.copy()  # export what the list shows
        excel = query.copy()
        excel["bom"] = "1"
        extra_context = {
            **(extra_context or {}),
            "has_import_permission": self.has_import_permission(request),
            "export_url": export_url + ("?" + query.urlencode() if query else ""),
            "excel_export_url": export_url + "?" + excel.urlencode(),
        }
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """The upload form. A good upload becomes an ImportJob that a worker runs; the admin is
        sent to the job's page, which follows it (a million rows take minutes, not a request)."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = ImportForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                job = ImportJob.objects.create(
                    file=upload,
                    name=upload.name[:255],
                    consented=form.cleaned_data["consented"],
                    skip_bad_rows=form.cleaned_data["skip_bad_rows"],
                    created_by=request.user,
                )
                transaction.on_commit(lambda: run_import.delay(job.pk), robust=True)
                return HttpResponseRedirect(
                    reverse("admin:subscriptions_subscriber_import_job", args=[job.pk])
                )
        else:
            form = ImportForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Import subscribers from CSV",
            "opts": self.model._meta,
            "form": form,
            "columns": importing.COLUMNS,
            "ignored_columns": importing.IGNORED_COLUMNS,
            "guide_slugs": sorted(Guide.objects.values_list("slug", flat=True)),
        }
        status = 400 if form.errors else 200
        return TemplateResponse(
            request, "admin/subscriptions/subscriber/import.html", context, status=status
        )

    def import_job_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """An import's progress while it runs (the page reloads itself, no script), then its result."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=job_id)
        phase, done, total = cache.get(importing.progress_key(job.pk)) or ("waiting", 0, 0)
        running = job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import of {job.name}",
            "opts": self.model._meta,
            "job": job,
            "running": running,
            "phase": phase,
            "done": done,
            "total": total,
            "percent": int(100 * done / total) if total else None,
        }
        status = 400 if job.status == ImportJob.Status.REJECTED else 200
        return TemplateResponse(
            request, "admin/subscriptions/subscriber/import_job.html", context, status=status
        )

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        # "bom" is the file's, not a filter of the list.
        bom = request.GET.get("bom") == "1"
        request.GET = request.GET.copy()
        request.GET.pop("bom", None)
        try:
            queryset = self.get_changelist_instance(request).queryset
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:subscriptions_subscriber_changelist"))
        response = StreamingHttpResponse(
            exporting.iter_csv_text(exporting.iter_csv_rows(queryset), bom=bom),
            content_type="text/csv; charset=utf-8",
        )
        filename = f"mlmw-subscribers-{timezone.now():%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "private, no-store"
        return response


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


# --- The release fan-out: mailings, their batches, and the per-recipient ledger ---------------------

# The mailing page lists this many batches, unfinished and failing ones first.
BATCH_LIST_LIMIT = 200
# What a mailing's status means for an operation that cannot apply to it, for the admin's messages.
MAILING_STATE = {
    Mailing.Status.PENDING: "not started yet",
    Mailing.Status.SENDING: "sending",
    Mailing.Status.PAUSED: "paused",
    Mailing.Status.CANCELLED: "cancelled",
    Mailing.Status.DONE: "done",
}


def progress_of(mailing_ids: list[int]) -> dict[int, dict[str, int]]:
    """Deliveries per status for each mailing, in one aggregate query (zeros included)."""
    progress = {pk: dict.fromkeys(Delivery.Status.values, 0) for pk in mailing_ids}
    rows = (
        Delivery.objects.filter(mailing_id__in=mailing_ids)
        .order_by()
        .values_list("mailing_id", "status")
        .annotate(n=Count("id"))
    )
    for mailing_id, status, n in rows:
        progress[mailing_id][status] = n
    return progress


class MailingChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # One query for the whole page's counts; the page's rows are read (and cached) here.
        mailings = list(self.result_list)
        progress = progress_of([m.pk for m in mailings])
        for mailing in mailings:
            mailing._progress = progress[mailing.pk]


def _progress(mailing: Mailing) -> dict[str, int]:
    found = getattr(mailing, "_progress", None)
    if found is None:
        found = mailing._progress = fanout.progress(mailing.pk)
    return found


@admin.register(Mailing)
class MailingAdmin(admin.ModelAdmin):
    """Release mailings: progress, batches, and pause / resume / cancel. Nothing is edited by hand:
    publishing creates a mailing, the fan-out (subscriptions.delivery) changes it."""

    list_display = [
        "release",
        "status",
        "audience_size",
        "queued",
        "sent",
        "failed",
        "skipped",
        "bounced",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "version__guide"]
    list_select_related = ["version__guide", "resend_of__version__guide"]
    fields = ["version", "status", "audience_size", "created_at", "started_at", "finished_at"]
    readonly_fields = fields
    actions = ["pause_selected", "resume_selected", "cancel_selected"]
    change_form_template = "admin/subscriptions/mailing/change_form.html"

    def get_changelist(self, request: HttpRequest, **kwargs):
        return MailingChangeList

    # --- Who may do what ---------------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a mailing comes from publishing a version

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the detail page is read-only; the operations below are the only changes

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the ledger of who was mailed what stays

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("subscriptions.change_mailing")

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # --- Progress ----------------------------------------------------------------------------------

    @admin.display(description="Version", ordering="version")
    def release(self, mailing: Mailing) -> str:
        if mailing.resend_of_id is not None:
            return f"{mailing.release_version} (resend)"
        return str(mailing.version) if mailing.version_id else str(mailing)

    @admin.display(description="queued")
    def queued(self, mailing: Mailing) -> int:
        return _progress(mailing)[Delivery.Status.QUEUED]

    @admin.display(description="sent")
    def sent(self, mailing: Mailing) -> int:
        return _progress(mailing)[Delivery.Status.SENT]

    @admin.display(description="failed")
    def failed(self, mailing: Mailing) -> int:
        return _progress(mailing)[Delivery.Status.FAILED]

    @admin.display(description="skipped")
    def skipped(self, mailing: Mailing) -> int:
        return _progress(mailing)[Delivery.Status.SKIPPED]

    @admin.display(description="bounced")
    def bounced(self, mailing: Mailing) -> int:
        return _progress(mailing)[Delivery.Status.BOUNCED]

    # --- The mailing's page ------------------------------------------------------------------------

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        mailing = self.get_object(request, object_id)
        extra_context = {**(extra_context or {})}
        if mailing is not None:
            extra_context.update(self._page_context(request, mailing))
        return super().change_view(request, object_id, form_url, extra_context)

    def _page_context(self, request: HttpRequest, mailing: Mailing) -> dict:
        user = request.user
        can_view_deliveries = user.has_perm("subscriptions.view_delivery") or user.has_perm(
            "subscriptions.change_delivery"
        )
        deliveries_url = reverse("admin:subscriptions_delivery_changelist")
        resends = list(mailing.resends.order_by("pk"))
        context = {
            "esp_wait": fanout.esp_wait(mailing.pk),
            **self._progress_context(request, mailing, has_resends=bool(resends)),
            "resends": resends,
            "deliveries_url": (
                f"{deliveries_url}?mailing={mailing.pk}" if can_view_deliveries else None
            ),
            "can_operate": self.has_operate_permission(request),
            "can_view_batches": user.has_perm("subscriptions.view_batch")
            or user.has_perm("subscriptions.change_batch"),
        }
        root = mailing.resend_of or mailing
        if context["can_operate"] and root.kind == Mailing.Kind.RELEASE and root.version_id:
            context["resend_root"] = root
            context["resend_count"] = resend.not_received(root).count()
            context["can_resend"] = context["resend_count"] > 0
        if context["can_view_batches"]:
            batches = Batch.objects.filter(mailing=mailing)
            context["batch_counts"] = [
                (Batch.Status(status).label, n)
                for status, n in batches.order_by("status")
                .values_list("status")
                .annotate(n=Count("id"))
                .values_list("status", "n")
            ]
            context["batch_total"] = sum(n for _, n in context["batch_counts"])
            # Unfinished and failing batches first: those are the ones someone came here to see.
            settled = Case(
                When(Q(status=Batch.Status.DONE) & Q(last_error=""), then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
            context["batches"] = list(
                batches.select_related("since_version").annotate(settled=settled)
                .order_by("settled", "id")[:BATCH_LIST_LIMIT]
            )  # fmt: skip
        return context

    def _progress_context(self, request: HttpRequest, mailing: Mailing, *, has_resends: bool):
        """The live bar's context: counts by each recipient's latest attempt, rate, ETA, links."""
        user = request.user
        can_view_deliveries = user.has_perm("subscriptions.view_delivery") or user.has_perm(
            "subscriptions.change_delivery"
        )
        bar = progress.of(mailing)
        deliveries_url = reverse("admin:subscriptions_delivery_changelist")
        # With resends, the counts are of latest attempts: the links list exactly those rows.
        which = f"latest_of={mailing.pk}" if has_resends else f"mailing={mailing.pk}"
        rows = [
            {
                "key": status,
                "status": label,
                "count": bar.counts[status],
                "url": (
                    f"{deliveries_url}?{which}&status__exact={status}"
                    if can_view_deliveries
                    else None
                ),
            }
            for status, label in Delivery.Status.choices
        ]
        return {
            "bar": bar,
            "progress": rows,
            "progress_url": reverse("admin:subscriptions_mailing_progress", args=[mailing.pk]),
        }

    def progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The bar alone, polled by the page (htmx) while the mailing or a resend of it runs."""
        mailing = get_object_or_404(Mailing, pk=pk)
        if not self.has_view_permission(request, mailing):
            raise PermissionDenied
        has_resends = mailing.resends.exists()
        context = self._progress_context(request, mailing, has_resends=has_resends)
        response = TemplateResponse(request, "admin/subscriptions/mailing/progress.html", context)
        response["Cache-Control"] = "no-store"
        return response

    # --- Pause, resume, cancel, resend -------------------------------------------------------------

    def get_urls(self):
        return (
            [
                path(
                    f"<int:pk>/{operation}/",
                    self.admin_site.admin_view(self.operation_view),
                    {"operation": operation},
                    name=f"subscriptions_mailing_{operation}",
                )
                for operation in ("pause", "resume", "cancel", "resend")
            ]
            + [
                path(
                    "<int:pk>/progress/",
                    self.admin_site.admin_view(self.progress_view),
                    name="subscriptions_mailing_progress",
                )
            ]
            + super().get_urls()
        )

    def operation_view(self, request: HttpRequest, pk: int, operation: str) -> HttpResponse:
        page = reverse("admin:subscriptions_mailing_change", args=[pk])
        if request.method != "POST":
            return HttpResponseRedirect(page)
        if not self.has_operate_permission(request):
            raise PermissionDenied
        mailing = get_object_or_404(
            Mailing.objects.select_related("version__guide", "resend_of__version__guide"), pk=pk
        )
        if operation in ("cancel", "resend") and request.POST.get("confirm") != "yes":
            what = "cancelled" if operation == "cancel" else "sent"
            self.message_user(
                request, f"Not {what}: tick the box to confirm the {operation}.", messages.WARNING
            )
            return HttpResponseRedirect(page)
        if operation == "resend":
            self._resend(request, mailing)
            return HttpResponseRedirect(page)
        self._operate(request, mailing, operation)
        return HttpResponseRedirect(page)

    def _operate(self, request: HttpRequest, mailing: Mailing, operation: str) -> None:
        version = mailing.release_version
        if operation == "pause":
            if fanout.pause(mailing.pk):
                self.message_user(
                    request,
                    f"Paused the mailing of {version}: no further batch is sent until it is "
                    "resumed (a batch being sent finishes).",
                )
                return
        elif operation == "resume":
            was_paused = Mailing.objects.filter(
                pk=mailing.pk, status=Mailing.Status.PAUSED
            ).exists()
            batch_ids = fanout.resume(mailing.pk)
            if batch_ids:
                _enqueue_batches(batch_ids)
                self.message_user(
                    request,
                    f"Resumed the mailing of {version}: {len(batch_ids)} queued batch(es) "
                    "enqueued again.",
                )
                return
            if (
                was_paused
                and Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.SENDING).exists()
            ):
                # Resumed with nothing left queued (its last batches finished while it was paused).
                ledger.finish_mailing_if_done(mailing.pk)
                self.message_user(
                    request, f"Resumed the mailing of {version}: no batch was left to send."
                )
                return
        elif operation == "cancel":
            if fanout.cancel(mailing.pk):
                self.message_user(
                    request,
                    f"Cancelled the mailing of {version}: its queued deliveries are skipped (a "
                    "batch being sent finishes).",
                )
                return
        else:
            raise ValueError(operation)
        status = Mailing.objects.get(pk=mailing.pk).status
        state = MAILING_STATE[Mailing.Status(status)]
        if (operation, status) in {("pause", "paused"), ("cancel", "cancelled")}:
            state += " already"
        self.message_user(
            request,
            f"Mailing of {version}: nothing to {operation}: the mailing is {state}.",
            messages.WARNING,
        )

    def _resend(self, request: HttpRequest, mailing: Mailing) -> None:
        if mailing.kind != Mailing.Kind.RELEASE or mailing.version_id is None:
            self.message_user(
                request, f"{mailing}: only a release mailing can be sent again.", messages.WARNING
            )
            return
        opened = resend.resend(mailing.pk)
        if opened is None:
            self.message_user(
                request,
                f"Nobody to send {mailing.version} to again: every recipient received it, is "
                "still being sent it, or cannot be mailed (unsubscribed, bounced, or already sent "
                "a newer release).",
                messages.WARNING,
            )
            return
        self.message_user(
            request,
            f"Sending {mailing.version} again to {opened.audience_size} recipient(s) who did not "
            "receive it.",
        )

    @admin.action(description="Pause selected mailings", permissions=["operate"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet[Mailing]) -> None:
        for mailing in queryset.select_related("version__guide", "resend_of__version__guide"):
            self._operate(request, mailing, "pause")

    @admin.action(description="Resume selected mailings", permissions=["operate"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[Mailing]) -> None:
        for mailing in queryset.select_related("version__guide", "resend_of__version__guide"):
            self._operate(request, mailing, "resume")

    @admin.action(
        description="Cancel selected mailings (cannot be undone)", permissions=["operate"]
    )
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Mailing]) -> None:
        for mailing in queryset.select_related("version__guide", "resend_of__version__guide"):
            self._operate(request, mailing, "cancel")


def _enqueue_batches(batch_ids: list[int]) -> None:
    """send_batch for each id once the resume has committed (a worker must see the mailing sending)."""

    def enqueue() -> None:
        for batch_id in batch_ids:
            send_batch.delay(batch_id)

    # robust: the admin's resume is committed either way; a failed enqueue is found again by the
    # sweeper (queued batches of a sending mailing whose task never ran).
    transaction.on_commit(enqueue, robust=True)


class MailingFilter(admin.SimpleListFilter):
    """By mailing, named by guide and version (one query, unlike the default related filter)."""

    title = "mailing"
    parameter_name = "mailing"

    def lookups(self, request: HttpRequest, model_admin):
        mailings = Mailing.objects.select_related("version__guide", "resend_of__version__guide")
        return [
            (str(m.pk), str(m.version) if m.version_id else f"{m} ({m.pk})")
            for m in mailings.order_by("-created_at")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Delivery]):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            raise IncorrectLookupParameters(f"Not a mailing: {value!r}")
        return queryset.filter(mailing_id=int(value))


class LatestAttemptFilter(admin.SimpleListFilter):
    """A release mailing and its resends, each recipient once: their latest attempt (the rows the
    mailing page's counts are of)."""

    title = "latest attempt per recipient"
    parameter_name = "latest_of"

    def lookups(self, request: HttpRequest, model_admin):
        resent = Mailing.objects.filter(resends__isnull=False).distinct()
        return [
            (str(m.pk), f"{m.version} and its resends")
            for m in resent.select_related("version__guide").order_by("-created_at")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Delivery]):
        value = self.value()
        if value is None:
            return queryset
        mailing = Mailing.objects.filter(pk=int(value)).first() if value.isdigit() else None
        if mailing is None:
            raise IncorrectLookupParameters(f"Not a mailing: {value!r}")
        return queryset.filter(pk__in=resend.latest_attempts(mailing).values("pk"))


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The per-recipient ledger: who was sent which release, the ESP's message id, what went wrong.
    Read-only; written by the fan-out and by bounce webhooks."""

    list_display = [
        "id",
        "recipient",
        "mailing",
        "status",
        "since_version",
        "sent_at",
        "esp_message_id",
        "error",
    ]
    list_filter = [MailingFilter, LatestAttemptFilter, "status"]
    list_select_related = [
        "subscriber",
        "mailing__version__guide",
        "mailing__resend_of__version__guide",
        "since_version__guide",
    ]
    paginator = EstimatedCountPaginator  # a mailing's ledger is up to a row per subscriber
    search_fields = ["subscriber__email"]
    search_help_text = "Search by the subscriber's address (or part of it)."
    show_full_result_count = False  # the ledger is large: no second COUNT(*) of the whole table
    list_per_page = 100
    fields = [
        "mailing",
        "subscriber",
        "status",
        "since_version",
        "sent_at",
        "esp_message_id",
        "error",
    ]
    readonly_fields = fields

    @admin.display(description="Recipient", ordering="subscriber__email")
    def recipient(self, delivery: Delivery) -> str:
        return delivery.subscriber.email if delivery.subscriber else "(erased)"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
