"""manage.py clock: the periodic jobs without a broker (scheduled publishing in `make run`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import time_machine
from django.core.management import call_command

from guide.models import Version
from guide.publishing import schedule
from tests.conftest import MLMW_0_10_1, make_version

NOW = datetime(2026, 10, 2, 9, tzinfo=UTC)


def test_clock_once_publishes_what_is_due_and_leaves_the_rest_scheduled(draft):
    later = make_version(draft.guide, "0.11.0", MLMW_0_10_1)
    schedule(draft, NOW - timedelta(minutes=1))
    schedule(later, NOW + timedelta(days=1))
    stderr = StringIO()

    with time_machine.travel(NOW, tick=False):
        call_command("clock", "--once", stdout=StringIO(), stderr=stderr)

    draft.refresh_from_db()
    later.refresh_from_db()
    assert (draft.status, draft.published_at, draft.bump) == (
        Version.Status.PUBLISHED,
        NOW,
        "patch",
    )
    assert later.status == Version.Status.SCHEDULED
    assert later.publish_at == NOW + timedelta(days=1)
    assert later.published_at is None
    assert stderr.getvalue() == ""


def test_clock_once_with_nothing_due_changes_nothing(draft):
    schedule(draft, NOW + timedelta(hours=1))
    before = Version.objects.order_by("pk").values_list("status", "published_at", "updated_at")
    before = list(before)

    with time_machine.travel(NOW, tick=False):
        call_command("clock", "--once", stdout=StringIO(), stderr=StringIO())

    after = Version.objects.order_by("pk").values_list("status", "published_at", "updated_at")
    assert list(after) == before
