"""manage.py clock: run the periodic jobs of CELERY_BEAT_SCHEDULE without a broker.

In production Celery beat sends these jobs to the workers. The embedded set-up of `make run` has no
broker, so this small loop asks each entry's own Celery schedule object whether it is due and runs the
task in this process. It reads the same schedule as beat, so the two never disagree about what runs.
"""

from __future__ import annotations

import time
from datetime import datetime

from celery.schedules import schedule as celery_schedule
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from mlmw.celery import app


class Command(BaseCommand):
    help = "Run the periodic jobs (scheduled publishing, …) in-process; for set-ups without Celery beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run every job once and exit")

    def handle(self, *args, **options) -> None:
        entries = settings.CELERY_BEAT_SCHEDULE
        app.loader.import_default_modules()  # registers every app's tasks
        last_run: dict[str, datetime] = {}
        while True:
            next_wake = 60.0
            for name, entry in entries.items():
                sched = entry["schedule"]
                if not hasattr(sched, "is_due"):
                    sched = celery_schedule(sched)
                due, next_in = (
                    (True, sched.remaining_estimate(timezone.now()).total_seconds())
                    if name not in last_run or options["once"]
                    else sched.is_due(last_run[name])
                )
                if due:
                    last_run[name] = timezone.now()
                    try:
                        app.tasks[entry["task"]].apply(throw=True)
                    except Exception as exc:
                        # One failing job must not stop the others; beat behaves the same.
                        self.stderr.write(f"clock: {name} failed: {exc!r}")
                        if options["once"]:
                            raise
                next_wake = min(next_wake, max(float(next_in), 1.0))
            if options["once"]:
                return
            try:
                time.sleep(next_wake)
            except KeyboardInterrupt:
                return  # Ctrl-C: a clean stop between jobs, not a traceback
