"""manage.py reindex_search: rebuild the search rows of every guide (after loading data by hand or an
upgrade; publishing keeps them current on its own)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from guide import search
from guide.models import Guide


class Command(BaseCommand):
    help = "Rebuild the search index of every guide from its latest published version."

    def handle(self, *args, **options) -> None:
        for guide in Guide.objects.all():
            rows = search.reindex(guide)
            self.stdout.write(f"{guide.slug}: {rows} search entries")
