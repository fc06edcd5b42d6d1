"""manage.py export_subscribers [--output FILE]: every subscriber as CSV, streamed (stdout by default).

The columns are subscriptions.exporting.COLUMNS; its email, guides and cadence columns can be imported
again (the import refuses the others). A cell that begins
with = + - @ TAB CR or an apostrophe gets an apostrophe before it, so a spreadsheet runs no formula
(subscriptions/csvcells.py); the import removes it. An output file is written under a temporary
name and renamed when complete, so a failed export leaves no partial file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from subscriptions import exporting


class Command(BaseCommand):
    help = (
        "Export every subscriber as CSV (email, status, cadence, guides, dates, source); cells "
        "that a spreadsheet would run as a formula start with an apostrophe."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")

    def handle(self, *args, **options) -> None:
        output = options["output"]
        if not output:
            for text in exporting.iter_csv_text():
                self.stdout.write(text, ending="")
            return
        target = Path(output)
        try:
            handle, temporary = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
            )
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
                for text in exporting.iter_csv_text():
                    file.write(text)
            os.replace(temporary, target)
        except BaseException as exc:
            Path(temporary).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from None
            raise
