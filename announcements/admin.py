"""Admin for announcements: every post per release and channel, its state, and Retry for failed ones.

The changelist says which channels are on and why the others are off. Rows are written only by
announcements.posting; nothing here edits them.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from announcements import posting, targets
from announcements.models import Announcement


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    list_display = [
        "version", "channel", "target_shown", "status", "attempts", "post_link", "last_error_short",
        "updated_at",
    ]  # fmt: skip
    list_filter = ["channel", "status"]
    search_fields = ["version__number", "version__guide__title", "target", "external_id"]
    list_select_related = ["version__guide"]
    actions = ["retry_failed"]
    readonly_fields = [
        "version", "channel", "target_shown", "status", "attempts", "error", "last_countdown",
        "external_id", "post_link", "next_attempt_at", "claimed_at", "created_at", "updated_at",
        "sent_at",
    ]  # fmt: skip
    fields = readonly_fields

    @admin.display(description="post")
    def post_link(self, obj: Announcement) -> str:
        if not obj.url:
            return obj.external_id or "—"
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', obj.url, obj.url)

    # Webhook URLs may carry a token: the admin shows scheme and host only, in errors too.
    @admin.display(description="target")
    def target_shown(self, obj: Announcement) -> str:
        return targets.shown(obj.target)

    @admin.display(description="last error")
    def error(self, obj: Announcement) -> str:
        return targets.masked(obj.last_error, obj.target)

    @admin.display(description="last error")
    def last_error_short(self, obj: Announcement) -> str:
        return targets.masked(obj.last_error, obj.target)[:120]

    @admin.action(description="Retry the selected failed announcements", permissions=["change"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Announcement]) -> None:
        ids = posting.retry(list(queryset.values_list("pk", flat=True)))
        skipped = queryset.count() - len(ids)
        self.message_user(request, f"{len(ids)} announcement(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} not failed, left as they are.", messages.WARNING)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "channel_states": posting.channel_states()}
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
