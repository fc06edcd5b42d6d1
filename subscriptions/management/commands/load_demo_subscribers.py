"""manage.py load_demo_subscribers: confirmed demo subscribers with different cadences (idempotent).

Each starts with the latest published version as their baseline, so publishing the demo draft mails
them the change since then.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from guide.models import Guide
from subscriptions import addresses
from subscriptions.lifecycle import record
from subscriptions.models import Baseline, Cadence, Subscriber, SubscriberEvent

DEMO = [
    ("ada@example.org", Cadence.EVERY, None),
    ("grace@example.org", Cadence.MINOR, None),
    ("alan@example.org", Cadence.MAJOR, None),
    ("katherine@example.org", Cadence.EVERY, "mlmw"),
    ("edsger@example.org", Cadence.EVERY, "mdtp"),
]


class Command(BaseCommand):
    help = "Create demo subscribers (confirmed, example.org addresses); safe to run again."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        now = timezone.now()
        created = 0
        for email, cadence, guide_slug in DEMO:
            subscriber, was_created = Subscriber.objects.get_or_create(
                email_key=addresses.key(email),
                defaults={
                    "email": email,
                    # One instant for all three: created_at's own default would be a moment after
                    # the confirmation, as if they had confirmed before subscribing.
                    "created_at": now,
                    "status": Subscriber.Status.CONFIRMED,
                    "cadence": cadence,
                    "confirmed_at": now,
                    "consent_at": now,
                    "source": "demo",
                },
            )
            if was_created:
                guides = (
                    Guide.objects.filter(slug=guide_slug) if guide_slug else Guide.objects.all()
                )
                subscriber.guides.set(guides)
                # Like anyone who confirms: the next release's mail shows what changed since the
                # latest published version, not the whole guide.
                Baseline.objects.start_following([subscriber.pk])
                record(subscriber, SubscriberEvent.Kind.CONFIRMED, "demo data")
                created += 1
        self.stdout.write(f"demo subscribers: {created} created, {len(DEMO)} in all")
