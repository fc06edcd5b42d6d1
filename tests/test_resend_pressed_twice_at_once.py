"""Two admins press "Send to everyone who did not receive it" at the same moment: one resend is
opened, the other finds its rows as the recipients' latest attempts and opens nothing.

Real PostgreSQL transactions on two connections (two threads), committed: the original mailing's
row lock serialises them. The suite's Celery is eager and its mail locmem: what counts here is the
rows each press wrote.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from guide import publishing
from subscriptions import resend
from subscriptions.models import Baseline, Delivery, Mailing
from tests.conftest import make_subscribers
from tests.services import service_unavailable

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_presses_at_once_open_one_resend_with_one_row_per_recipient(draft, settings):
    if connection.vendor != "postgresql":
        service_unavailable("row locks need PostgreSQL (set DATABASE_URL)")
    settings.MAIL_BATCH_SIZE = 3
    readers = make_subscribers(draft.guide, "reader", 10)
    publishing.publish(draft)  # committed: its eager tasks send it at once
    mailing = Mailing.objects.get(version=draft, status=Mailing.Status.DONE)
    # As if the ESP had refused every batch: failed, no baseline moved.
    mailing.deliveries.update(status="failed", error="ESP answered 400", sent_at=None)
    Baseline.objects.filter(version=draft).delete()

    start = threading.Barrier(2)
    opened: list[Mailing | None] = []

    def press() -> None:
        try:
            start.wait()
            opened.append(resend.resend(mailing.pk))
        finally:
            connections.close_all()

    presses = [threading.Thread(target=press) for _ in range(2)]
    for thread in presses:
        thread.start()
    for thread in presses:
        thread.join(timeout=60)

    assert sorted(m is None for m in opened) == [False, True]
    [again] = mailing.resends.all()
    rows = Delivery.objects.filter(mailing=again)
    assert sorted(rows.values_list("subscriber__email", flat=True)) == sorted(
        r.email for r in readers
    )
    assert again.batches.count() == 4
