"""Subscribers, what happened to them, and the suppression list of erased addresses."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import connection, models
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from guide.models import Guide, Version
from subscriptions import reading


class Cadence(models.TextChoices):
    EVERY = "every", "Every release"
    MINOR = "minor", "Minor and major releases"
    MAJOR = "major", "Major releases only"
    DAILY = "daily", "A daily digest"
    WEEKLY = "weekly", "A weekly digest"


# Cadences mailed by the clock (a digest of what changed) rather than by each release.
DIGESTS = frozenset({Cadence.DAILY, Cadence.WEEKLY})

# Which release bumps each cadence receives.
CADENCE_BUMPS = {
    Cadence.EVERY: {"major", "minor", "patch"},
    Cadence.MINOR: {"major", "minor"},
    Cadence.MAJOR: {"major"},
}


class SubscriberQuerySet(models.QuerySet["Subscriber"]):
    def confirmed(self) -> SubscriberQuerySet:
        return self.filter(status=Subscriber.Status.CONFIRMED)

    def following(self, guide_id: int) -> SubscriberQuerySet:
        """Subscribers who follow the guide: linked to it, or following all guides (which takes in
        guides created after they chose)."""
        linked = Subscriber.guides.through.objects.filter(
            subscriber_id=OuterRef("pk"), guide_id=guide_id
        )
        return self.filter(Q(all_guides=True) | Exists(linked))

    def audience_for(self, version: Version) -> SubscriberQuerySet:
        """Confirmed subscribers of version's guide whose cadence includes its bump (digest readers
        are mailed by the clock, not here)."""
        cadences = [c for c, bumps in CADENCE_BUMPS.items() if version.bump_level() in bumps]
        return self.confirmed().following(version.guide_id).filter(cadence__in=cadences)

    def digest_readers(self) -> SubscriberQuerySet:
        """Confirmed subscribers who get digests (each at their own slot: next_digest_at)."""
        return self.confirmed().filter(cadence__in=DIGESTS)


class Subscriber(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained"

    # Names the subscriber in signed links instead of the address or the row id.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.CharField(max_length=254, help_text="As given, domain in IDNA form.")
    # Lower-cased address: the unique key, so Ann@x.org and ann@x.org are one subscriber.
    email_key = models.CharField(max_length=254, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    cadence = models.CharField(max_length=8, choices=Cadence.choices, default=Cadence.EVERY)
    guides = models.ManyToManyField(Guide, related_name="subscribers", blank=True)
    # Every guide, those created later included. The existing ones are linked in `guides` too.
    # The new columns have database defaults: bulk SQL inserts (benchmarks) need not name them.
    all_guides = models.BooleanField(default=False, db_default=False)
    # When a digest goes out: the hour (and for weekly ones the weekday, 0 = Monday) in time_zone.
    digest_weekday = models.PositiveSmallIntegerField(
        choices=reading.WEEKDAYS, default=0, db_default=0, validators=[MaxValueValidator(6)]
    )
    digest_hour = models.PositiveSmallIntegerField(
        default=reading.DEFAULT_DIGEST_HOUR,
        db_default=reading.DEFAULT_DIGEST_HOUR,
        validators=[MaxValueValidator(23)],
    )
    time_zone = models.CharField(
        max_length=64,
        default=reading.DEFAULT_TIME_ZONE,
        db_default=reading.DEFAULT_TIME_ZONE,
        validators=[reading.validate_time_zone],
    )
    # Digest slots count from here (subscriptions.digests): when the reader was last taken into a
    # digest, or changed when digests go out; None: from confirmed_at. Every digest moves it for
    # each of its readers: in no index, and the table's fillfactor is 60 (migration 0017), so the
    # new row version fits on its page without index writes (a HOT update).
    digest_after = models.DateTimeField(null=True, blank=True, editable=False)
    # Keep a Changelog kinds wanted, as reading.kinds_field stores them; "" = all.
    kinds = models.CharField(max_length=64, blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # The current confirmation link's secret: a link is valid only while its nonce matches, so each
    # link works once and a new link voids the old one.
    confirm_nonce = models.CharField(max_length=32, blank=True, editable=False)
    confirm_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the welcome mail was claimed for sending: set once, so it goes out once.
    welcomed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Consent record, written when the subscriber confirms.
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_ip = models.GenericIPAddressField(null=True, blank=True)
    consent_user_agent = models.CharField(max_length=500, blank=True)
    source = models.CharField(
        max_length=100, blank=True, help_text="Where the subscription came from: a form, an import."
    )
    soft_bounces = models.PositiveIntegerField(default=0)
    last_bounce_at = models.DateTimeField(null=True, blank=True)

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "cadence"], name="subscriber_audience_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="confirmed") | Q(confirmed_at__isnull=False),
                name="subscriber_confirmed_has_date",
            ),
            models.CheckConstraint(
                condition=Q(digest_weekday__lte=6) & Q(digest_hour__lte=23),
                name="subscriber_digest_slot_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def on_list(self) -> bool:
        """Confirmed, or pending confirmation: their preferences decide what they get. Anyone else
        (unsubscribed, bounced, complained) gets nothing until they subscribe and confirm again."""
        return self.status in {self.Status.CONFIRMED, self.Status.PENDING}

    def new_confirm_nonce(self) -> str:
        self.confirm_nonce = secrets.token_urlsafe(16)
        return self.confirm_nonce

    # --- What the reader chose (the fan-out reads these) ---

    @property
    def gets_digests(self) -> bool:
        return self.cadence in DIGESTS

    def next_digest_at(self, after: datetime) -> datetime | None:
        """The reader's first digest slot strictly after `after` (UTC), or None if they get each
        release instead. DST-safe: see reading.next_slot."""
        if not self.gets_digests:
            return None
        weekday = self.digest_weekday if self.cadence == Cadence.WEEKLY else None
        return reading.next_slot(
            after, hour=self.digest_hour, time_zone=self.time_zone, weekday=weekday
        )

    @property
    def kind_set(self) -> frozenset[str]:
        """The Keep a Changelog kinds wanted (all six when there is no filter)."""
        return reading.kinds_from_field(self.kinds)

    def wants_kind(self, kind: str) -> bool:
        return not self.kinds or kind in self.kind_set

    def section_choices(self) -> dict[int, frozenset[str]]:
        """guide id -> chosen section slugs, for the guides the reader filters (prefetch
        `section_filters` when reading many subscribers)."""
        return {f.guide_id: frozenset(f.sections) for f in self.section_filters.all() if f.sections}

    def wants_section(self, guide: Guide | int, slug: str) -> bool:
        """Whether a change in the section `slug` (guide.sections.section_slugs) of the guide is
        for this reader. With no filter on the guide, every section is, the part before its
        first section ("") included; with one, only the chosen sections are."""
        chosen = self.section_choices().get(guide if isinstance(guide, int) else guide.pk)
        return not chosen or slug in chosen

    def follows(self, guide: Guide) -> bool:
        return self.all_guides or self.guides.filter(pk=guide.pk).exists()

    def chosen_reading(self) -> reading.Reading:
        return reading.Reading(
            cadence=self.cadence,
            digest_weekday=self.digest_weekday,
            digest_hour=self.digest_hour,
            time_zone=self.time_zone,
            kinds=self.kind_set,
            sections={g: tuple(sorted(s)) for g, s in self.section_choices().items()},
        )

    def set_reading(self, chosen: reading.Reading) -> list[str]:
        """Set the row's fields from `chosen`; returns their names for save(update_fields=…).
        The section filters are rows of their own: set_sections."""
        slot = (chosen.cadence, chosen.digest_weekday, chosen.digest_hour, chosen.time_zone)
        if slot != (self.cadence, self.digest_weekday, self.digest_hour, self.time_zone):
            # Slots count from the choice: no digest for a slot that passed before it.
            self.digest_after = timezone.now()
        self.cadence = chosen.cadence
        self.digest_weekday = chosen.digest_weekday
        self.digest_hour = chosen.digest_hour
        self.time_zone = chosen.time_zone
        self.kinds = reading.kinds_field(chosen.kinds)
        return ["cadence", "digest_weekday", "digest_hour", "time_zone", "kinds", "digest_after"]

    def set_sections(self, sections: Mapping[int, Iterable[str]]) -> None:
        """Store the chosen sections per guide id (inside the caller's transaction); a guide
        left out, or with none, has no filter."""
        chosen = {guide_id: sorted(set(slugs)) for guide_id, slugs in sections.items() if slugs}
        self.section_filters.exclude(guide_id__in=list(chosen)).delete()
        for guide_id, slugs in chosen.items():
            SectionFilter.objects.update_or_create(
                subscriber=self, guide_id=guide_id, defaults={"sections": slugs}
            )


class SectionFilter(models.Model):
    """The sections of one guide a subscriber chose; no row (or an empty list) means all of them.

    A row per (subscriber, guide) rather than JSON on the subscriber: only readers who filter have
    one (the fan-out joins a small table), and deleting a guide deletes its filters.
    """

    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="section_filters"
    )
    guide = models.ForeignKey(Guide, on_delete=models.CASCADE, related_name="+")
    sections = models.JSONField(default=list, help_text="Section slugs (guide.sections).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "guide"], name="section_filter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.subscriber_id}/{self.guide_id}: {', '.join(self.sections)}"


class SubscriberEvent(models.Model):
    """The subscriber's history, shown in the admin: subscribed, confirmed, mailed, bounced, …"""

    class Kind(models.TextChoices):
        SUBSCRIBED = "subscribed", "Subscribed (pending)"
        CONFIRMATION_SENT = "confirmation_sent", "Confirmation mail sent"
        CONFIRMED = "confirmed", "Confirmed"
        PREFERENCES = "preferences", "Changed preferences"
        MAILED = "mailed", "Mailed a version"
        BOUNCED = "bounced", "Bounced"
        SOFT_BOUNCED = "soft_bounced", "Soft bounce"
        COMPLAINED = "complained", "Complained"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        IMPORTED = "imported", "Imported"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    detail = models.CharField(max_length=500, blank=True)
    version = models.ForeignKey(Version, null=True, blank=True, on_delete=models.SET_NULL)
    # The ESP's event id, so a webhook delivered twice is recorded (and acted on) once.
    esp_event_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.detail}".strip()


class SuppressedAddress(models.Model):
    """An erased address, kept only as a keyed hash (see addresses.suppression_hash)."""

    address_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=20, default="erased")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "suppressed addresses"

    def __str__(self) -> str:
        return f"{self.address_hash[:12]}… ({self.reason})"


# Subscriber ids per statement off PostgreSQL (SQLite in `make run`), under its bound-parameter cap.
_IDS_PER_STATEMENT = 500


class BaselineQuerySet(models.QuerySet["Baseline"]):
    def start_following(
        self, subscriber_ids: Iterable[int], guide_ids: Iterable[int] | None = None
    ) -> int:
        """Start the baselines of subscribers who begin to follow guides; returns the rows written.

        For each confirmed subscriber among `subscriber_ids` and each guide they follow (linked,
        or every guide for a reader of all guides; those of `guide_ids`, None: all) that has no
        baseline yet: the guide's latest published version now. Their first release mail then
        shows the change since the version that was live when they started following, not the
        whole guide. A guide with nothing published gets no row (its first release is all new to
        everyone). An existing baseline is never moved, backwards or forwards. Pending subscribers
        get nothing here: their baselines start when they confirm (until then no release reaches
        them).

        Called by every path that makes a subscriber confirmed or gives one a guide
        (subscriptions.lifecycle, subscriptions.importing), after the guides are stored. Set-based
        for imports: one INSERT … SELECT per guide (per chunk of ids off PostgreSQL).
        """
        ids = sorted(set(subscriber_ids))
        if guide_ids is not None:
            guide_ids = list(guide_ids)
        if not ids or guide_ids == []:
            return 0
        guides = Guide.objects.order_by().annotate(
            latest=Subquery(
                Version.objects.published()
                .filter(guide=OuterRef("pk"))
                .newest_first()
                .values("pk")[:1]
            )
        )
        if guide_ids is not None:
            guides = guides.filter(pk__in=guide_ids)
        latest = list(guides.filter(latest__isnull=False).values_list("pk", "latest"))
        quote = connection.ops.quote_name
        baseline, subscriber, follows = (
            quote(model._meta.db_table)
            for model in (Baseline, Subscriber, Subscriber.guides.through)
        )
        if connection.vendor == "postgresql":
            chunks = [ids]
            ids_param = "= ANY(%s::bigint[])"  # the whole list as one array parameter
        else:
            step = _IDS_PER_STATEMENT
            chunks = [ids[i : i + step] for i in range(0, len(ids), step)]
            ids_param = ""
        now = timezone.now()
        written = 0
        with connection.cursor() as cursor:
            for guide_id, version_id in latest:
                for chunk in chunks:
                    in_ids = ids_param or f"IN ({', '.join(['%s'] * len(chunk))})"
                    cursor.execute(
                        f"""
                        INSERT INTO {baseline} (subscriber_id, guide_id, version_id, updated_at)
                        SELECT s.id, %s, %s, %s FROM {subscriber} s
                        WHERE s.status = %s AND s.id {in_ids}
                          AND (s.all_guides OR EXISTS (SELECT 1 FROM {follows} sg
                               WHERE sg.subscriber_id = s.id AND sg.guide_id = %s))
                        ON CONFLICT (subscriber_id, guide_id) DO NOTHING
                        """,  # noqa: S608 - table names from model metadata, values as parameters
                        [
                            guide_id, version_id, now, Subscriber.Status.CONFIRMED,
                            *([chunk] if ids_param else chunk), guide_id,
                        ],
                    )  # fmt: skip
                    written += cursor.rowcount
        return written


class Baseline(models.Model):
    """The last version of a guide a subscriber was mailed: where their next mail's diff starts.

    A major-only subscriber's baseline is their last major, so their next mail shows everything since.
    It starts, when the subscriber begins to follow the guide (confirms, or gains it), at the guide's
    latest published version then (BaselineQuerySet.start_following). No row means nothing was
    published when they started following and they were never mailed since (the diff starts from
    nothing). It moves forward only when a delivery is recorded as sent, in the same transaction.
    """

    # Every sent batch upserts its recipients' rows (1M per release at 1M subscribers). With no index
    # on version or updated_at, moving a baseline changes no indexed column, so PostgreSQL can
    # update it in place (a HOT update: no index writes), given free room on the page: the table's
    # fillfactor is 50 (migration 0005). Only the unique (subscriber, guide) index is read.
    # guide and version have no index: deleting one (rare, by hand) scans this table once.
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="baselines", db_index=False
    )
    guide = models.ForeignKey(Guide, on_delete=models.CASCADE, related_name="+", db_index=False)
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="+", db_index=False)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = BaselineQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "guide"], name="baseline_unique")
        ]

    def __str__(self) -> str:
        return f"{self.subscriber_id}: {self.version}"


class Mailing(models.Model):
    """The mail of one published version to its audience. Created inside publish()'s transaction."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # created, audience not fixed yet
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Done"

    class Kind(models.TextChoices):
        RELEASE = "release", "Release"
        # Other apps' mail through the same batches and ledger (subscriptions.audience.register_kind).
        ACCESS_REVISION = "access_revision", "New artifact revision (access)"
        # A release sent again to those of its recipients who did not receive it (resend_of).
        RESEND = "resend", "Resend of a release"
        DIGEST = "digest", "Digest"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.RELEASE)
    # Set for releases; other kinds name what they are about on their own side.
    version = models.OneToOneField(
        Version, null=True, blank=True, on_delete=models.PROTECT, related_name="mailing"
    )
    # A resend's original release mailing: its version is the one sent (subscriptions.resend).
    resend_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="resends"
    )
    # A digest's slot: the UTC start of the quarter hour (digests.SLOT_MINUTES) it was opened in.
    # Unique, so a slot is opened once however often beat asks (subscriptions.digests.open_due).
    slot = models.DateTimeField(null=True, blank=True, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    audience_size = models.PositiveIntegerField(default=0)
    # The audience is written in windows of subscriber ids (audience.start_chunk): the last id it
    # covers (the highest subscriber id when the mailing started), how far the writing got, whether
    # it is all written (only then can the mailing be done), and when a window was last written
    # (the sweeper restarts the writing when that is long ago).
    audience_end = models.BigIntegerField(default=0)
    audience_cursor = models.BigIntegerField(default=0)
    audience_complete = models.BooleanField(default=False)
    audience_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        if self.resend_of_id is not None:
            return f"Resend of {self.release_version}"
        if self.version_id is None:
            return f"{self.get_kind_display()} mailing {self.pk}"
        return f"Mailing of {self.version}"

    @property
    def sends_a_release(self) -> bool:
        """Sent as a release mail (variants, baselines): a release or a resend of one."""
        return self.kind in (self.Kind.RELEASE, self.Kind.RESEND)

    @property
    def release_version(self) -> Version | None:
        """The version this mailing sends: its own, or for a resend its original's."""
        return self.resend_of.version if self.resend_of_id is not None else self.version


class Batch(models.Model):
    """Deliveries sent with one ESP call: one mailing, one baseline, a range of delivery ids.

    Workers claim a batch (a conditional update on its status) rather than individual deliveries, so a
    claim costs the same at 1M recipients as at 1k (see docs/delivery.md).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    mailing = models.ForeignKey(Mailing, on_delete=models.CASCADE, related_name="batches")
    since_version = models.ForeignKey(
        Version, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The filters key its deliveries share (subscriptions.filters): a batch is one variant. A digest
    # batch's is its readers' digest key (subscriptions.digests.write_window).
    filters = models.TextField(blank=True, default="", db_default="")
    first_delivery_id = models.BigIntegerField()
    last_delivery_id = models.BigIntegerField()
    size = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # When the ESP first answered "not now" (a transient error or its rate limit) in the run of
    # such answers that ends when the batch is sent: MAIL_GIVE_UP_AFTER counts from here.
    waiting_since = models.DateTimeField(null=True, blank=True)
    # The last claim ended without our learning what the ESP took (its lease ran out, or the call got
    # no answer): the next claim asks the ESP first (subscriptions.reconcile).
    outcome_unknown = models.BooleanField(default=False, db_default=False)  # raw INSERTs too

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "claimed_at"], name="batch_sweep_idx")]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"Batch {self.pk} of {self.mailing_id} ({self.size})"


class Delivery(models.Model):
    """One recipient of one mailing: the per-recipient ledger."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        BOUNCED = "bounced", "Bounced"

    # A mailing writes a row per recipient, one statement per audience window (MAIL_AUDIENCE_CHUNK
    # subscribers, up to 1M rows in all), and every index and foreign-key check is paid per row, at
    # start and again when the row is marked sent. So only what is read has an index, and only the
    # subscriber keeps a database constraint (and the grant, NULL on release rows, so unchecked):
    # - mailing: no index of its own (delivery_once_per_subscriber leads with it), no constraint
    #   (the start statement writes the mailing's own id; deleting a mailing cascades in Django).
    # - since_version: no index, no constraint, DO_NOTHING: it is a copy of the recipient's baseline,
    #   a mailed version, which its own mailing PROTECTs; nothing looks deliveries up by it.
    # - esp_message_id: a partial index, holding only sent rows (the bounce webhook's lookup).
    mailing = models.ForeignKey(
        Mailing,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        db_constraint=False,
    )
    # SET_NULL: erasing a subscriber keeps the (anonymous) counts of past mailings.
    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    # Recipients of other kinds of mailing who are not subscribers: a holder of an access grant.
    # No plain index: release rows (all NULL here) must not pay for one; the partial constraint
    # below indexes the rows that have it.
    grant = models.ForeignKey(
        "access.Grant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        db_index=False,
    )
    since_version = models.ForeignKey(
        Version,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # The recipient's filters on the guide when the audience was written (subscriptions.filters):
    # with since_version, which variant they get. "" (no filter) for most rows. A digest's row holds
    # the reader's digest key instead (subscriptions.digests.write_window): a grouping only.
    filters = models.TextField(blank=True, default="", db_default="")
    # A sent digest's makings (subscriptions.digests.key_of: the cadence and, per guide, the
    # versions and filters): what its "View in browser" page renders again. "" on other rows (a
    # database default: adding the column rewrites no row, and bulk INSERTs need not name it).
    digest_parts = models.TextField(blank=True, default="", db_default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    esp_message_id = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailing", "subscriber"], name="delivery_once_per_subscriber"
            ),
            models.UniqueConstraint(
                fields=["grant", "mailing"],
                condition=Q(grant__isnull=False),
                name="delivery_once_per_grant",
            ),
        ]
        indexes = [
            models.Index(
                fields=["esp_message_id"],
                name="delivery_esp_message_idx",
                condition=~models.Q(esp_message_id=""),
            )
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"Delivery {self.pk} ({self.status})"


class ImportJob(models.Model):
    """A CSV import run by a worker, not inside the admin's request: a million rows take minutes.

    The uploaded file is kept until the job ends. subscriptions.tasks.run_import claims the job
    (queued → running) before reading it, so a redelivered task never imports a file twice; the
    importer's own all-or-nothing transaction makes a crash mid-way leave nothing written.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"

    file = models.FileField(upload_to="imports/")
    name = models.CharField(max_length=255)
    consented = models.BooleanField(default=False)
    skip_bad_rows = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The outcome, for the job's page: counts, the message, and the report's lines.
    message = models.TextField(blank=True)
    report_lines = models.JSONField(default=list, blank=True)
    report_csv = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.name} ({self.status})"


class QueuedTask(models.Model):
    """A one-off task: one transactional mail (confirmation, welcome, access links) or a public
    form's request, written in the transaction that decided the mail (or with the submission) and
    deleted once the task is done (subscriptions.queued_tasks): no broker outage, lost message or
    long ESP outage loses it.

    It holds ids and a link's nonce, or a form's answer, and the address key of whom it mails, for
    erasure."""

    task_id = models.UUIDField(default=uuid.uuid4, unique=True)  # the Celery task id of every copy
    name = models.CharField(max_length=200)
    args = models.JSONField()
    email_key = models.CharField(max_length=254, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the sweeper publishes it again: its task lost, its lease run out, or its backoff over.
    available_at = models.DateTimeField(db_index=True)
    # A copy runs it until then; another copy that finds it claimed does nothing.
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # runs that ended without the mail out
    last_error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"Queued task {self.name} {self.task_id}"
