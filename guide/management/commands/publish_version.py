"""manage.py publish_version GUIDE NUMBER --content FILE [--changelog CHANGELOG.md] [--title T] [--at TIME]"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction
from django.utils import timezone

from guide import publishing
from guide.changelog import ChangelogError, entries_for
from guide.models import ChangelogEntry, Guide, Version
from guide.versioning import VersionNumber


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {what} file {path}: {exc}") from None


def _parse_at(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--at {text!r} is not an ISO 8601 time") from None
    if timezone.is_naive(at):
        raise CommandError(f"--at {text!r} needs a time zone, e.g. 2026-12-01T09:00:00+00:00")
    if at <= timezone.now():
        raise CommandError(f"--at {text} is in the past; leave --at out to publish now")
    return at


class Command(BaseCommand):
    help = (
        "Create a version of a guide from a Markdown file, with its changelog entries taken from the "
        "matching section of a Keep a Changelog file, and publish it now or schedule it with --at. "
        "Nothing is written unless every check passes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("guide", help="slug of the guide, e.g. mlmw")
        parser.add_argument("number", help="version number, e.g. 0.10.2")
        parser.add_argument("--content", required=True, help="Markdown file with the whole guide")
        parser.add_argument("--changelog", help="CHANGELOG.md in Keep a Changelog format")
        parser.add_argument("--title", help="release title (default: 'Version NUMBER')")
        parser.add_argument("--at", help="publish at this ISO 8601 time instead of now")

    def handle(self, *args, **options) -> None:
        # Every check runs before anything is written; the writes share one transaction.
        try:
            guide = Guide.objects.get(slug=options["guide"])
        except Guide.DoesNotExist:
            raise CommandError(f"unknown guide {options['guide']!r}") from None
        try:
            number = str(VersionNumber.parse(options["number"]))
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        content = _read(options["content"], "content")
        if not content.strip():
            raise CommandError(f"content file {options['content']} is empty")
        entries: list[tuple[str, str]] = []
        if options["changelog"]:
            try:
                entries = entries_for(_read(options["changelog"], "changelog"), number)
            except ChangelogError as exc:
                raise CommandError(f"{options['changelog']}: {exc}") from None
        at = _parse_at(options["at"]) if options["at"] else None
        if Version.objects.filter(guide=guide, number=number).exists():
            raise CommandError(f"{guide.slug} {number} already exists")
        title = (options["title"] or f"Version {number}").strip()[:200]

        try:
            with transaction.atomic():
                version = Version.objects.create(
                    guide=guide, number=number, title=title, content=content
                )
                ChangelogEntry.objects.bulk_create(
                    ChangelogEntry(version=version, kind=kind, text=text, order=index)
                    for index, (kind, text) in enumerate(entries)
                )
                version = (
                    publishing.publish(version) if at is None else publishing.schedule(version, at)
                )
        except publishing.PublishError as exc:
            raise CommandError(str(exc)) from None
        except IntegrityError:
            # Another publish_version for the same number won the race after our check above.
            raise CommandError(f"{guide.slug} {number} already exists") from None

        if at is None:
            self.stdout.write(
                f"published {guide.slug} {number} ({version.bump}, {len(entries)} changelog entries)"
            )
        else:
            self.stdout.write(f"scheduled {guide.slug} {number} for {at.isoformat()}")
