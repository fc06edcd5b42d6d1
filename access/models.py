"""Artifacts of a guide a reader can get, the requests for them, and the personal links that grant them.

An artifact is an uploaded file (every revision kept through Django's storage API) or an external
link, public or on request. A request is verified by its address's owner, reviewed by an editor (or
approved by the artifact's auto-approve rule), and an approved request gets a Grant: personal links
(GrantToken) whose random tokens are stored only as SHA-256 hashes, so the database alone never
yields a working link.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from guide.models import Guide


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Artifact(models.Model):
    class Kind(models.TextChoices):
        FILE = "file", "Uploaded file"
        LINK = "link", "External link"

    class Policy(models.TextChoices):
        PUBLIC = "public", "Public"
        ON_REQUEST = "on_request", "On request"

    guide = models.ForeignKey(Guide, on_delete=models.PROTECT, related_name="artifacts")
    title = models.CharField(max_length=200)
    intent = models.CharField(max_length=300, help_text="One line, as in the guide's table.")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.FILE)
    url = models.URLField("Link", blank=True, help_text="For an external link.")
    policy = models.CharField(max_length=12, choices=Policy.choices, default=Policy.ON_REQUEST)
    order = models.PositiveIntegerField(default=0)
    auto_approve_subscribers = models.BooleanField(
        default=False, help_text="Approve requests from confirmed subscribers of the guide at once."
    )
    auto_approve_domains = models.TextField(
        blank=True,
        help_text="Approve requests from addresses in these domains at once: one domain a line.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["guide__title", "order", "pk"]
        permissions = [("review_all", "Review access requests for every guide")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="link") | ~Q(url=""), name="artifact_link_has_url"
            ),
            models.CheckConstraint(
                condition=~Q(kind="link") | Q(policy="public"), name="artifact_link_is_public"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def domains(self) -> set[str]:
        return {
            line.strip().lower().lstrip("@")
            for line in self.auto_approve_domains.splitlines()
            if line.strip()
        }

    def latest_revision(self) -> ArtifactRevision | None:
        return self.revisions.order_by("-created_at", "-pk").first()

    def public_revision(self) -> ArtifactRevision | None:
        """What anyone may download: the latest revision of a public file, else the latest revision
        an editor marked public ("earlier public PDF")."""
        if self.kind != self.Kind.FILE:
            return None
        if self.policy == self.Policy.PUBLIC:
            return self.latest_revision()
        return self.revisions.filter(public=True).order_by("-created_at", "-pk").first()

    def get_request_url(self) -> str:
        return reverse("access:request", args=[self.pk])


def revision_path(revision: ArtifactRevision, filename: str) -> str:
    # Never the uploaded name: a random one under the artifact's folder, with the extension of the
    # type the content was recognised as (see access.uploads). No path traversal is possible.
    return f"artifacts/{revision.artifact_id}/{uuid.uuid4().hex}{revision.extension}"


class ArtifactRevision(models.Model):
    """One uploaded file of an artifact. Kept for good; the newest is what a grant downloads."""

    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="revisions")
    file = models.FileField(upload_to=revision_path, max_length=200)
    original_name = models.CharField(max_length=200, blank=True, editable=False)
    content_type = models.CharField(max_length=100, editable=False)
    extension = models.CharField(max_length=10, editable=False)
    size = models.BigIntegerField(default=0, editable=False)
    sha256 = models.CharField(max_length=64, editable=False)
    public = models.BooleanField(
        default=False, help_text="Anyone may download this revision (an earlier public edition)."
    )
    note = models.CharField(max_length=200, blank=True, help_text="What changed, for the notice.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # The "new revision" notice to grant holders (access.notices): set once, so it is sent once.
    notice = models.OneToOneField(
        "subscriptions.Mailing",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="access_revision",
        editable=False,
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.artifact} · {self.created_at:%Y-%m-%d %H:%M}"

    def download_name(self) -> str:
        """A safe file name for Content-Disposition: the artifact's title, ASCII, no separators."""
        from django.utils.text import slugify

        stem = slugify(self.artifact.title)[:80] or "download"
        return f"{stem}{self.extension}"

    def etag(self) -> str:
        return f'"{self.sha256[:32]}"'


class AccessRequest(models.Model):
    class Status(models.TextChoices):
        UNVERIFIED = "unverified", "Waiting for the address to be verified"
        PENDING = "pending", "Waiting for review"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="requests")
    email = models.CharField(max_length=254)
    email_key = models.CharField(max_length=254, db_index=True, editable=False)
    name = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    want_updates = models.BooleanField("Also send guide updates", default=False)
    want_revisions = models.BooleanField("Tell about new revisions", default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNVERIFIED)
    # The current verification link's secret (as Subscriber.confirm_nonce): one link works once.
    verify_nonce = models.CharField(max_length=32, blank=True, editable=False)
    verify_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_ip = models.GenericIPAddressField(null=True, blank=True)
    verified_user_agent = models.CharField(max_length=500, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    auto_approved = models.BooleanField(default=False)
    message = models.CharField(
        max_length=1000,
        blank=True,
        help_text="The editor's message in the approval or denial mail.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "decided_at"], name="accessrequest_purge_idx")]

    def __str__(self) -> str:
        return f"{self.email} → {self.artifact}"

    def new_verify_nonce(self) -> str:
        self.verify_nonce = secrets.token_urlsafe(16)
        return self.verify_nonce


class GrantQuerySet(models.QuerySet["Grant"]):
    def live(self, now: datetime | None = None) -> GrantQuerySet:
        return self.filter(
            revoked_at__isnull=True,
            expires_at__gt=now or timezone.now(),
            download_count__lt=F("max_downloads"),
        )


class Grant(models.Model):
    """Access to an artifact through personal links (GrantToken): one expiry, revocation and download
    cap for all of them."""

    request = models.OneToOneField(AccessRequest, on_delete=models.CASCADE, related_name="grant")
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="grants")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    max_downloads = models.PositiveIntegerField()
    download_count = models.PositiveIntegerField(default=0)
    notify_revisions = models.BooleanField(default=False)
    # When the ESP last accepted a mail with a link of this grant; never: no mail with a link is
    # known to have gone out (the admin's "Resend link" is for that).
    link_sent_at = models.DateTimeField("Link last mailed", null=True, blank=True, editable=False)

    objects = GrantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Grant {self.pk} for {self.artifact}"

    def problem(self, now: datetime | None = None) -> str | None:
        """Why the link does not work now ("revoked", "expired", "used_up"), or None."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        if self.download_count >= self.max_downloads:
            return "used_up"
        return None


class GrantToken(models.Model):
    """One personal link of a grant: the SHA-256 of 256 random bits; the token itself exists only in
    the mail that carries it, and names no address.

    A grant has several while a mail is on its way: the link of the last mail the ESP accepted, and a
    link issued for each mail since, which may or may not have reached the holder (still sending,
    refused, or accepted with the answer lost). Every one works, within the grant's expiry,
    revocation and cap, until the ESP accepts another mail: then the links issued or accepted before
    it are deleted (access.lifecycle.link_mailed, ordered by acceptance). So the holder always has a
    working link in the newest mail in their inbox.
    """

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # When the ESP accepted the mail carrying this link (None: not known to have gone out).
    mailed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["pk"]  # issue order: issue_link issues under the grant's row lock

    def __str__(self) -> str:
        return f"Link {self.pk} of grant {self.grant_id}"

    @classmethod
    def issue(cls, grant: Grant, **fields) -> tuple[GrantToken, str]:
        """A new link of `grant`: the stored row and the token, which is never stored."""
        token = secrets.token_urlsafe(32)
        return cls.objects.create(grant=grant, token_hash=hash_token(token), **fields), token


class Download(models.Model):
    """One download through a grant: when, from where, with what."""

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="downloads")
    revision = models.ForeignKey(
        ArtifactRevision, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    byte_range = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} from {self.ip or '?'}"


class Reviewer(models.Model):
    """An editor who reviews access requests for one guide's artifacts (Admins review all)."""

    guide = models.ForeignKey(Guide, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_reviews"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["guide", "user"], name="reviewer_once_per_guide")
        ]

    def __str__(self) -> str:
        return f"{self.user} reviews {self.guide}"
