"""`__any_of`, the lookup the fan-out marks its batches with: the same rows as `__in`, bound on
PostgreSQL as one array parameter (one statement text whatever the list's length)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from subscriptions.models import Subscriber
from tests.conftest import make_subscribers

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribers(guide):
    return lambda n: [s.pk for s in make_subscribers(guide, "reader", n, status="pending")]


def test_any_of_finds_exactly_the_rows_in_finds(subscribers):
    ids = subscribers(5)
    chosen = [ids[0], ids[2], ids[4], 10**12]  # an id that does not exist matches nothing
    by_any = set(Subscriber.objects.filter(pk__any_of=chosen).values_list("pk", flat=True))
    by_in = set(Subscriber.objects.filter(pk__in=chosen).values_list("pk", flat=True))
    assert by_any == by_in == {ids[0], ids[2], ids[4]}


def test_any_of_an_empty_list_matches_nothing(subscribers):
    subscribers(2)
    assert not Subscriber.objects.filter(pk__any_of=[]).exists()


def test_any_of_updates_the_chosen_rows_only(subscribers):
    ids = subscribers(3)
    Subscriber.objects.filter(pk__any_of=ids[:2]).update(status="unsubscribed")
    assert list(Subscriber.objects.order_by("pk").values_list("status", flat=True)) == [
        "unsubscribed", "unsubscribed", "pending",
    ]  # fmt: skip


def test_a_thousand_ids_are_one_parameter_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the array parameter is PostgreSQL's; elsewhere any_of is __in")
    ids = list(range(1, 1001))
    with CaptureQueriesContext(connection) as queries:
        list(Subscriber.objects.filter(pk__any_of=ids).values_list("pk"))
    sql = queries.captured_queries[0]["sql"]
    assert "= ANY(" in sql and " IN (" not in sql
