"""manage.py load_demo: the demo guides and their version history from guide/demo/ (idempotent).

Published demo versions are written as history (no publish() call, so nothing is mailed for them); the
newest MLMW version stays a draft for an editor to preview and publish. With DEBUG on it also creates
the demo accounts admin/admin and editor/editor.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from guide import search
from guide.changelog import parse_changelog
from guide.models import ChangelogEntry, Guide, Version
from guide.versioning import VersionNumber

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"


class Command(BaseCommand):
    help = "Load the demo guides, versions and changelogs (safe to run again)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        meta = json.loads((DEMO_DIR / "guides.json").read_text(encoding="utf-8"))
        created = 0
        for item in meta:
            guide, _ = Guide.objects.update_or_create(
                slug=item["slug"],
                defaults={
                    key: item.get(key, "")
                    for key in ("title", "description", "telegram_url", "reddit_url", "website_url")
                },
            )
            changelog = parse_changelog(
                (DEMO_DIR / guide.slug / "CHANGELOG.md").read_text(encoding="utf-8")
            )
            previous: VersionNumber | None = None
            ordered = sorted(item["versions"], key=lambda v: VersionNumber.parse(v["number"]))
            for spec in ordered:
                number = VersionNumber.parse(spec["number"])
                published = spec.get("status", "published") == "published"
                if not Version.objects.filter(guide=guide, number=str(number)).exists():
                    version = Version.objects.create(
                        guide=guide,
                        number=str(number),
                        title=spec["title"],
                        content=(DEMO_DIR / guide.slug / f"{number}.md").read_text(
                            encoding="utf-8"
                        ),
                        status=Version.Status.PUBLISHED if published else Version.Status.DRAFT,
                        published_at=(
                            datetime.fromisoformat(spec["published_at"].replace("Z", "+00:00"))
                            if published
                            else None
                        ),
                        bump=number.bump_from(previous) if published else "",
                    )
                    release = changelog.get(str(number))
                    ChangelogEntry.objects.bulk_create(
                        ChangelogEntry(version=version, kind=kind, text=text, order=index)
                        for index, (kind, text) in enumerate(release.entries if release else [])
                    )
                    created += 1
                if published:
                    previous = number
            # Written as history, not published: the search rows are built here instead.
            search.reindex(guide)
        self.stdout.write(f"demo data: {len(meta)} guides, {created} versions created")
        if settings.DEBUG:
            self._demo_users()

    def _demo_users(self) -> None:
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@mlmw.example", "admin")
        if not User.objects.filter(username="editor").exists():
            editor = User.objects.create_user(
                "editor", "editor@mlmw.example", "editor", is_staff=True
            )
            editor.groups.add(Group.objects.get(name="Editors"))
        self.stdout.write("demo accounts: admin/admin (superuser), editor/editor (Editors group)")
