"""manage.py import_subscribers FILE [--consented]: import a CSV of subscribers, all of it or nothing.

See subscriptions.importing for the columns and the merge rules. A file with bad rows is rejected: the
bad rows go to stderr (line and reason) and the command exits with status 1, having written nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from subscriptions import importing

# How many bad rows are printed; the rest are counted ("… and K more").
SHOWN_ERRORS = 100


class Command(BaseCommand):
    help = (
        "Import subscribers from a UTF-8 CSV file with the columns email[,guides][,cadence]. "
        "New addresses are pending and get a confirmation mail, unless --consented. A cell that "
        "begins with an apostrophe before = + - @ TAB CR or another apostrophe loses that "
        "apostrophe (the export's guard against spreadsheet formulas)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="the CSV file")
        parser.add_argument(
            "--consented",
            action="store_true",
            help="every address agreed to receive the updates: import them confirmed, mail nobody",
        )

    def handle(self, *args, **options) -> None:
        path = options["file"]
        try:
            file = open(path, "rb")  # noqa: SIM115 - closed below, after both passes
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            with file:
                result = importing.import_subscribers(file, consented=options["consented"])
        except importing.ImportRejected as exc:
            for line in exc.report.lines(limit=SHOWN_ERRORS):
                self.stderr.write(line)
            raise CommandError(exc.report.summary()) from None
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
        state = "confirmed" if options["consented"] else "pending, confirmation mail enqueued"
        self.stdout.write(
            f"{importing.counted(result.rows, 'row', 'rows')}: {result.created} created ({state}), "
            f"{result.merged} merged, "
            f"{result.suppressed_skipped} suppressed (erased addresses, skipped)."
        )
