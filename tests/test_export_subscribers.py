"""Exporting subscribers as CSV, from the admin and the command line: streamed, every subscriber."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from guide.models import Guide
from subscriptions import exporting, importing
from subscriptions.models import Subscriber

EXPORT_URL = "/admin/subscriptions/subscriber/export/"
HEADER = [
    "email",
    "status",
    "cadence",
    "guides",
    "created_at",
    "confirmed_at",
    "consent_at",
    "source",
]
CREATED = datetime(2026, 10, 1, 8, 30, tzinfo=UTC)
CONFIRMED = datetime(2026, 10, 1, 8, 45, tzinfo=UTC)


@pytest.fixture
def subscribers(guide) -> list[Subscriber]:
    mdtp = Guide.objects.create(slug="mdtp", title="Machine learning deep dives")
    ann = Subscriber.objects.create(
        email="Ann@example.org", email_key="ann@example.org", status="confirmed", cadence="minor",
        created_at=CREATED, confirmed_at=CONFIRMED, consent_at=CONFIRMED, source="form",
    )  # fmt: skip
    ann.guides.set([guide, mdtp])
    bob = Subscriber.objects.create(
        email="bob@example.org", email_key="bob@example.org", created_at=CREATED, source="import"
    )
    bob.guides.set([mdtp])
    cy = Subscriber.objects.create(
        email="cy@example.org", email_key="cy@example.org", status="unsubscribed",
        created_at=CREATED,
    )  # fmt: skip
    return [ann, bob, cy]


ANN = [
    "Ann@example.org", "confirmed", "minor", "mdtp mlmw", "2026-10-01T08:30:00+00:00",
    "2026-10-01T08:45:00+00:00", "2026-10-01T08:45:00+00:00", "form",
]  # fmt: skip
BOB = ["bob@example.org", "pending", "every", "mdtp", "2026-10-01T08:30:00+00:00", "", "", "import"]
CY = ["cy@example.org", "unsubscribed", "every", "", "2026-10-01T08:30:00+00:00", "", "", ""]


def parse(content: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content)))


def streamed(response: StreamingHttpResponse) -> str:
    return b"".join(response.streaming_content).decode()


# --- The command ----------------------------------------------------------------------------------


def test_the_command_writes_every_subscriber_to_stdout(subscribers):
    out = StringIO()

    call_command("export_subscribers", stdout=out)

    assert parse(out.getvalue()) == [HEADER, ANN, BOB, CY]


def test_the_command_writes_a_file_with_output(subscribers, tmp_path):
    target = tmp_path / "subscribers.csv"

    call_command("export_subscribers", "--output", str(target), stdout=StringIO())

    assert parse(target.read_text(encoding="utf-8")) == [HEADER, ANN, BOB, CY]
    assert [p.name for p in tmp_path.iterdir()] == ["subscribers.csv"]  # no temporary file left


def test_an_unwritable_output_is_a_one_line_error_and_leaves_no_file(subscribers, tmp_path):
    target = tmp_path / "missing-dir" / "subscribers.csv"

    with pytest.raises(CommandError) as failure:
        call_command("export_subscribers", "--output", str(target), stdout=StringIO())

    assert str(failure.value) == f"cannot write {target}: No such file or directory"
    assert list(tmp_path.iterdir()) == []


def test_an_export_with_no_subscribers_is_just_the_header(db):
    out = StringIO()

    call_command("export_subscribers", stdout=out)

    assert parse(out.getvalue()) == [HEADER]


def test_an_export_can_be_imported_again_unchanged(subscribers, tmp_path):
    target = tmp_path / "subscribers.csv"
    call_command("export_subscribers", "--output", str(target), stdout=StringIO())
    Subscriber.objects.all().delete()

    # The import reads email, guides, cadence and reads past the export's other columns.
    with target.open("rb") as file:
        result = importing.import_subscribers(file, consented=True)

    assert result.created == 3
    assert {
        (s.email, s.cadence, " ".join(sorted(g.slug for g in s.guides.all())))
        for s in Subscriber.objects.all()
    } == {
        ("Ann@example.org", "minor", "mdtp mlmw"),
        ("bob@example.org", "every", "mdtp"),
        # No guides exports as an empty column, which an import reads as every guide.
        ("cy@example.org", "every", "mdtp mlmw"),
    }


def test_the_export_reads_guides_once_per_chunk_not_once_per_subscriber(guide, monkeypatch):
    monkeypatch.setattr(exporting, "CHUNK_SIZE", 10)
    for n in range(25):
        s = Subscriber.objects.create(email=f"s{n}@example.org", email_key=f"s{n}@example.org")
        s.guides.set([guide])

    with CaptureQueriesContext(connection) as queries:
        rows = list(exporting.iter_csv_rows())

    assert len(rows) == 26
    guide_queries = [q for q in queries if "guide_guide" in q["sql"]]
    assert len(guide_queries) == 3  # 25 subscribers in chunks of 10


# --- The admin --------------------------------------------------------------------------------------


def test_the_admin_export_streams_every_subscriber_as_csv(list_admin_client, subscribers):
    response = list_admin_client.get(EXPORT_URL)

    assert isinstance(response, StreamingHttpResponse)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="mlmw-subscribers-')
    assert {"private", "no-store"} <= set(response["Cache-Control"].split(", "))
    assert sorted(parse(streamed(response))[1:]) == sorted([ANN, BOB, CY])
    assert parse(streamed(list_admin_client.get(EXPORT_URL)))[0] == HEADER


def test_the_admin_export_exports_what_the_filtered_list_shows(list_admin_client, subscribers):
    by_status = list_admin_client.get(EXPORT_URL, {"status__exact": "pending"})
    by_search = list_admin_client.get(EXPORT_URL, {"q": "ann@"})

    assert parse(streamed(by_status)) == [HEADER, BOB]
    assert parse(streamed(by_search)) == [HEADER, ANN]


def test_the_excel_export_starts_with_a_byte_order_mark_and_keeps_the_lists_filter(
    list_admin_client, subscribers
):
    changelist = list_admin_client.get(
        "/admin/subscriptions/subscriber/", {"status__exact": "pending"}
    )
    assert "status__exact=pending&amp;bom=1" in changelist.content.decode()

    response = list_admin_client.get(EXPORT_URL, {"status__exact": "pending", "bom": "1"})

    body = streamed(response)
    assert body.startswith("\ufeffemail,")
    assert parse(body.removeprefix("\ufeff")) == [HEADER, BOB]
    assert not streamed(list_admin_client.get(EXPORT_URL)).startswith("\ufeff")


def test_the_admin_export_with_a_bad_filter_goes_back_to_the_list(list_admin_client, subscribers):
    response = list_admin_client.get(EXPORT_URL, {"nonsense__exact": "1"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/subscriptions/subscriber/"


def test_an_editor_cannot_export_subscribers(editor_client, subscribers):
    response = editor_client.get(EXPORT_URL)

    assert response.status_code == 403
    assert b"example.org" not in response.content


def test_a_superuser_can_export(client, superuser, subscribers):
    client.force_login(superuser)

    response = client.get(EXPORT_URL)

    assert sorted(parse(streamed(response))[1:]) == sorted([ANN, BOB, CY])
