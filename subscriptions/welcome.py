"""The welcome after confirming: one mail restating what the reader chose, with the manage link,
and the same words on the page the confirmation leads to.

Every line comes from fixed vocabularies (cadence and kind labels, guide and section titles, a
validated time zone name): nothing a visitor typed reaches the mail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from guide.models import Guide
from guide.sections import guide_sections
from subscriptions import emails
from subscriptions.models import Cadence, Subscriber
from subscriptions.reading import KIND_LABELS, KINDS, WEEKDAYS


@dataclass(frozen=True)
class Choice:
    label: str
    value: str


def how_often(subscriber: Subscriber) -> str:
    hour = f"{subscriber.digest_hour:02}:00 ({subscriber.time_zone})"
    if subscriber.cadence == Cadence.DAILY:
        return f"A daily digest at {hour}"
    if subscriber.cadence == Cadence.WEEKLY:
        day = dict(WEEKDAYS)[subscriber.digest_weekday]
        return f"A weekly digest on {day}s at {hour}"
    return subscriber.get_cadence_display()


def describe(subscriber: Subscriber) -> list[Choice]:
    """The reader's choices as short lines, in the order the forms ask for them."""
    guides = list(subscriber.guides.order_by("title"))
    if subscriber.all_guides:
        guide_text = "All guides, and new ones as they appear"
    else:
        guide_text = ", ".join(guide.title for guide in guides) or "None"
    kinds = subscriber.kind_set
    kind_text = (
        "Every kind of change"
        if kinds == frozenset(KINDS)
        else ", ".join(KIND_LABELS[kind] for kind in KINDS if kind in kinds) + " only"
    )
    choices = [
        Choice("Guides", guide_text),
        Choice("How often", how_often(subscriber)),
        Choice("Kinds of change", kind_text),
    ]
    chosen = subscriber.section_choices()
    for guide in Guide.objects.filter(pk__in=list(chosen)).order_by("title"):
        titles = {section.slug: section.title for section in guide_sections(guide)}
        names = [titles.get(slug, slug) for slug in sorted(chosen[guide.pk])]
        choices.append(Choice(f"Sections of {guide.title}", ", ".join(names)))
    return choices


def send(subscriber_id: int, deliver: Callable[[EmailMessage], bool]) -> bool:
    """Mail the welcome once per confirmation; returns whether this call sent it.

    The claim (welcomed_at set where it is NULL) and the send share one transaction: a second run
    of the task waits on the row and then finds it claimed; a send that fails (an exception, a
    crash) rolls the claim back, so the retry sends it. The transaction spans one ESP call.
    """
    with transaction.atomic():
        claimed = Subscriber.objects.filter(
            pk=subscriber_id, status=Subscriber.Status.CONFIRMED, welcomed_at__isnull=True
        ).update(welcomed_at=timezone.now())
        if not claimed:
            return False
        subscriber = Subscriber.objects.get(pk=subscriber_id)
        message = emails.build("welcome", subscriber, {"choices": describe(subscriber)})
        if not deliver(message):
            return False  # refused for good: a retry would be refused too; the claim stays
    return True
