"""Guides, their versions and the changelog entries of each version."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from guide.versioning import MAJOR, MINOR, PATCH, VersionNumber, validate_version_number

# What an editor is told when they set Status to Scheduled and leave "Publish at" empty.
SCHEDULED_NEEDS_TIME = "A scheduled version needs a 'Publish at' time."


class Guide(models.Model):
    slug = models.SlugField(unique=True, help_text="Short name used in URLs, e.g. mlmw.")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="One or two sentences; plain text.")
    telegram_url = models.URLField("Telegram group", blank=True)
    reddit_url = models.URLField("Reddit community", blank=True)
    website_url = models.URLField("Website", blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("guide:guide", args=[self.slug])

    def latest_version(self) -> Version | None:
        return self.versions.latest()


class VersionQuerySet(models.QuerySet["Version"]):
    """Query helpers named for what they return. Number order is numeric: 0.10.0 sorts after 0.9.0."""

    def published(self) -> VersionQuerySet:
        return self.filter(status=Version.Status.PUBLISHED)

    def newest_first(self) -> VersionQuerySet:
        return self.order_by("-major", "-minor", "-patch")

    def oldest_first(self) -> VersionQuerySet:
        return self.order_by("major", "minor", "patch")

    def latest(self, *fields: str) -> Version | None:  # type: ignore[override]
        """The published version with the highest number, or None if nothing is published yet.

        With field names it behaves like Django's QuerySet.latest(), so nothing that relies on the
        stock method breaks.
        """
        if fields:
            return super().latest(*fields)
        return self.published().newest_first().first()

    def previous(self, version: Version) -> Version | None:
        """The published version of the same guide with the highest number below `version`."""
        return (
            self.published()
            .filter(guide_id=version.guide_id)
            .filter(_below(version.number_parts))
            .newest_first()
            .first()
        )

    def at_or_above(self, version: Version) -> VersionQuerySet:
        return self.filter(guide_id=version.guide_id).exclude(_below(version.number_parts))

    def due(self, now=None) -> VersionQuerySet:
        """Scheduled versions whose time has come."""
        return self.filter(status=Version.Status.SCHEDULED, publish_at__lte=now or timezone.now())

    def between(self, since: Version | None, until: Version) -> VersionQuerySet:
        """Published versions of until's guide after `since` (exclusive) up to `until` (inclusive)."""
        qs = self.published().filter(guide_id=until.guide_id).exclude(_above(until.number_parts))
        if since is not None:
            qs = qs.exclude(_below(since.number_parts)).exclude(pk=since.pk)
        return qs


def _below(parts: VersionNumber) -> Q:
    return (
        Q(major__lt=parts.major)
        | Q(major=parts.major, minor__lt=parts.minor)
        | Q(major=parts.major, minor=parts.minor, patch__lt=parts.patch)
    )


def _above(parts: VersionNumber) -> Q:
    return (
        Q(major__gt=parts.major)
        | Q(major=parts.major, minor__gt=parts.minor)
        | Q(major=parts.major, minor=parts.minor, patch__gt=parts.patch)
    )


class Version(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        PUBLISHED = "published", "Published"

    class Bump(models.TextChoices):
        MAJOR = MAJOR, "Major"
        MINOR = MINOR, "Minor"
        PATCH = PATCH, "Patch"

    guide = models.ForeignKey(Guide, on_delete=models.PROTECT, related_name="versions")
    number = models.CharField(
        max_length=32,
        validators=[validate_version_number],
        help_text="MAJOR.MINOR.PATCH, e.g. 0.10.2",
    )
    # The number's parts, kept in sync with `number` by save(): they make numeric ordering and
    # comparisons a plain index scan.
    major = models.PositiveIntegerField(editable=False)
    minor = models.PositiveIntegerField(editable=False)
    patch = models.PositiveIntegerField(editable=False)
    title = models.CharField(max_length=200, help_text="A short name for the release.")
    content = models.TextField(help_text="The whole guide at this version, in Markdown.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    publish_at = models.DateTimeField(
        null=True, blank=True, help_text="When a scheduled version is published automatically."
    )
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set by publish(): the step from the previous published version, fixed at that moment, which
    # decides who is mailed (cadence "major only" and so on).
    bump = models.CharField(max_length=8, choices=Bump.choices, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VersionQuerySet.as_manager()

    class Meta:
        ordering = ["guide", "-major", "-minor", "-patch"]
        constraints = [
            models.UniqueConstraint(fields=["guide", "number"], name="version_number_unique"),
            models.UniqueConstraint(
                fields=["guide", "major", "minor", "patch"], name="version_parts_unique"
            ),
            models.CheckConstraint(
                condition=~Q(status="published") | Q(published_at__isnull=False, bump__gt=""),
                name="version_published_has_date_and_bump",
            ),
            models.CheckConstraint(
                condition=~Q(status="scheduled") | Q(publish_at__isnull=False),
                name="version_scheduled_has_time",
                violation_error_message=SCHEDULED_NEEDS_TIME,
            ),
        ]
        indexes = [
            models.Index(fields=["status", "publish_at"], name="version_due_idx"),
        ]
        permissions = [("publish_version", "Can publish a version")]

    def __str__(self) -> str:
        return f"{self.guide.slug} {self.number}"

    def save(self, *args, **kwargs) -> None:
        parts = VersionNumber.parse(self.number)
        self.number = str(parts)
        self.major, self.minor, self.patch = parts.major, parts.minor, parts.patch
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "major", "minor", "patch"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("guide:version", args=[self.guide.slug, self.number])

    @property
    def number_parts(self) -> VersionNumber:
        return VersionNumber.parse(self.number)

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    def previous(self) -> Version | None:
        """The published version this one follows (for a draft: what it would follow today)."""
        return Version.objects.previous(self)

    def bump_level(self) -> str:
        """major/minor/patch relative to the previous published version (the stored one once published)."""
        if self.bump:
            return self.bump
        previous = self.previous()
        return self.number_parts.bump_from(previous.number_parts if previous else None)


class ChangelogEntry(models.Model):
    """One line of a version's changelog, in the kinds of Keep a Changelog."""

    class Kind(models.TextChoices):
        ADDED = "added", "Added"
        CHANGED = "changed", "Changed"
        DEPRECATED = "deprecated", "Deprecated"
        REMOVED = "removed", "Removed"
        FIXED = "fixed", "Fixed"
        SECURITY = "security", "Security"

    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.TextField(help_text="One entry, inline Markdown (links, emphasis, code).")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        verbose_name_plural = "changelog entries"

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"


KIND_ORDER = [kind for kind, _ in ChangelogEntry.Kind.choices]


def group_by_kind(entries) -> list[tuple[str, list[ChangelogEntry]]]:
    """Entries grouped under their kind's label, in Keep a Changelog's order (Added first)."""
    groups: dict[str, list[ChangelogEntry]] = {kind: [] for kind in KIND_ORDER}
    for entry in entries:
        groups[entry.kind].append(entry)
    labels = dict(ChangelogEntry.Kind.choices)
    return [(labels[kind], items) for kind, items in groups.items() if items]


class ParsedContent(models.Model):
    """The stored parse of a guide text (guide.diff.ParsedGuide), so that a published version is
    parsed once, not at every diff. Keyed by the SHA-256 of the text: versions with the same
    content share a row. `format` is guide.parses.PARSE_FORMAT when it was written; a row of
    another format is parsed again and overwritten. Written and read by guide.parses only."""

    content_hash = models.CharField(max_length=64, unique=True)
    format = models.PositiveSmallIntegerField()
    data = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "stored parse"

    def __str__(self) -> str:
        return f"parse {self.content_hash[:12]} (format {self.format}, {len(self.data)} bytes)"


class SearchEntry(models.Model):
    """One searchable piece of a guide: a section of its latest published version, or a changelog entry.

    Written only by guide.search.reindex (on every publish). The full-text index beside this table is
    the database's own: a generated tsvector column with a GIN index on PostgreSQL, an FTS5 table kept
    by triggers on SQLite (migration 0005); guide.search reads either through one interface.
    """

    class Kind(models.TextChoices):
        SECTION = "section", "Section"
        ENTRY = "entry", "Changelog entry"

    guide = models.ForeignKey(Guide, on_delete=models.CASCADE, related_name="search_entries")
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    title = models.TextField()
    anchor = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["guide_id", "order"]
        verbose_name_plural = "search entries"

    def __str__(self) -> str:
        return f"{self.guide_id}: {self.title[:60]}"
