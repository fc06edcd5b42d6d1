"""What a reader has not read yet, and marking it read.

Per guide they follow (all of them for a reader of all guides): the catch-up (guide.catchup) from
their baseline, the last version they were mailed, to the newest published version, narrowed to
their filters as their mail is (subscriptions.filters: the kinds and sections they chose; a guide
with nothing for them is not shown, and stays unread, as the fan-out folds it into the next mail).
Marking it read moves each baseline to the version the reader was shown, never past it (a release
published while the page was open stays unread) and never backwards (ledger.move_baselines): their
next mail starts there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from guide.catchup import CatchUp, catch_up
from guide.models import Guide, Version
from subscriptions import filters, ledger
from subscriptions.filters import Filters
from subscriptions.models import Subscriber, SubscriberEvent


@dataclass(frozen=True)
class Unread:
    guide: Guide
    changes: CatchUp


def unread(subscriber: Subscriber) -> list[Unread]:
    """Each followed guide with a published version newer than the reader's baseline, by title."""
    baselines = {
        b.guide_id: b.version for b in subscriber.baselines.select_related("version").order_by()
    }
    followed = Guide.objects.all() if subscriber.all_guides else subscriber.guides.all()
    found = []
    for guide in followed.order_by("title"):
        newest = guide.latest_version()
        if newest is None:
            continue
        since = baselines.get(guide.pk)
        if since is not None and since.number_parts >= newest.number_parts:
            continue
        changes = filters.narrow(catch_up(since, newest), Filters.of_reader(subscriber, guide.pk))
        if changes is not None:
            found.append(Unread(guide, changes))
    return found


def mark_read(subscriber: Subscriber, version_ids: Iterable[int]) -> list[Version]:
    """Move the reader's baselines forward to these published versions of guides they follow
    (others are ignored); returns the versions marked read."""
    followed = Guide.objects.all() if subscriber.all_guides else subscriber.guides.all()
    versions = list(
        Version.objects.published()
        .filter(pk__in=list(version_ids), guide__in=followed)
        .select_related("guide")
    )
    now = timezone.now()
    with transaction.atomic():
        for version in versions:
            ledger.move_baselines([subscriber.pk], version.guide_id, version.pk, now)
            SubscriberEvent.objects.create(
                subscriber=subscriber,
                kind=SubscriberEvent.Kind.PREFERENCES,
                detail=f"marked {version.guide.title} read up to {version.number}",
                version=version,
            )
    return versions
