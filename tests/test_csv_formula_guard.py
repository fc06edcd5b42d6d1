"""The subscriber CSV is safe to open in a spreadsheet and still imports back to the same subscribers.

A cell that begins with = + - @, a tab or a carriage return runs as a formula in Excel and LibreOffice;
the export writes an apostrophe before it (and before a cell that begins with an apostrophe), and the
import takes exactly that apostrophe off again (subscriptions/csvcells.py).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from hypothesis import given
from hypothesis import strategies as st

from guide.models import Guide
from subscriptions import addresses
from subscriptions.csvcells import protect, unprotect
from subscriptions.models import Subscriber
from tests.pages import text

CREATED = "2026-10-01T08:30:00+00:00"
# With the full-width look-alikes some spreadsheets also run as formulas.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def add(email: str, *, source: str = "form", guides: list[Guide] = (), **fields) -> Subscriber:
    subscriber = Subscriber.objects.create(
        email=email, email_key=addresses.key(email), source=source,
        created_at=datetime(2026, 10, 1, 8, 30, tzinfo=UTC), **fields,
    )  # fmt: skip
    subscriber.guides.set(guides)
    return subscriber


def slugs(subscriber: Subscriber) -> str:
    return " ".join(sorted(guide.slug for guide in subscriber.guides.all()))


@pytest.fixture
def beta(db) -> Guide:
    """A guide whose slug begins with a minus, so the guides column can too."""
    return Guide.objects.create(slug="-beta", title="Beta")


def export(tmp_path: Path) -> Path:
    target = tmp_path / "export.csv"
    call_command("export_subscribers", "--output", str(target), stdout=StringIO())
    return target


def test_every_cell_that_a_spreadsheet_would_run_is_exported_behind_an_apostrophe(
    tmp_path, guide, beta
):
    # Valid addresses that begin with = + - or an apostrophe; sources with every formula start.
    add("=1+1@example.org", source='=HYPERLINK("http://evil.example","x")', guides=[guide])
    add("+31@example.org", source="@SUM(A1)", guides=[beta, guide])
    add("-2+3@example.org", source="\t=1+1")
    add("'x@example.org", source="\r=1+1")
    add("'=x@example.org", source="'quoted")
    add("plain@example.org", source="-")

    assert export(tmp_path).read_bytes() == (
        b"email,status,cadence,guides,created_at,confirmed_at,consent_at,source\r\n"
        b"'=1+1@example.org,pending,every,mlmw,2026-10-01T08:30:00+00:00,,,"
        b'"\'=HYPERLINK(""http://evil.example"",""x"")"\r\n'
        b"'+31@example.org,pending,every,'-beta mlmw,2026-10-01T08:30:00+00:00,,,'@SUM(A1)\r\n"
        b"'-2+3@example.org,pending,every,,2026-10-01T08:30:00+00:00,,,'\t=1+1\r\n"
        b"''x@example.org,pending,every,,2026-10-01T08:30:00+00:00,,,\"'\r=1+1\"\r\n"
        b"''=x@example.org,pending,every,,2026-10-01T08:30:00+00:00,,,''quoted\r\n"
        b"plain@example.org,pending,every,,2026-10-01T08:30:00+00:00,,,'-\r\n"
    )


def test_no_exported_cell_begins_with_a_formula_character(tmp_path, guide, beta):
    add("=1+1@example.org", source="@x", guides=[beta])
    add("-x@example.org", source="+x", guides=[guide])

    with export(tmp_path).open(newline="", encoding="utf-8") as file:
        cells = [cell for row in csv.reader(file) for cell in row]

    assert cells and not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]


def test_the_admin_export_is_guarded_the_same_way(list_admin_client, guide):
    add("=1+1@example.org", source="@x", guides=[guide])

    response = list_admin_client.get("/admin/subscriptions/subscriber/export/")

    assert b"".join(response.streaming_content).splitlines()[1] == (
        b"'=1+1@example.org,pending,every,mlmw,2026-10-01T08:30:00+00:00,,,'@x"
    )


def test_an_export_imports_back_to_the_same_addresses_guides_and_cadences(tmp_path, guide, beta):
    confirmed = {"status": "confirmed", "confirmed_at": datetime(2026, 10, 2, tzinfo=UTC)}
    add("=1+1@example.org", guides=[guide], cadence="minor", **confirmed)
    add("+31@example.org", guides=[beta, guide], cadence="major", **confirmed)
    add("-2+3@example.org", guides=[beta], **confirmed)
    add("'x@example.org", guides=[guide], **confirmed)
    add("'=x@example.org", guides=[beta], **confirmed)
    add("''@example.org", guides=[guide, beta], **confirmed)

    def stored() -> set[tuple]:
        return {
            (s.email, s.email_key, s.status, s.cadence, slugs(s)) for s in Subscriber.objects.all()
        }

    before = stored()
    exported = export(tmp_path)
    # The import takes email, guides and cadence; the other columns are the export's own. The cells
    # are copied as they are, apostrophes included.
    trimmed = tmp_path / "trimmed.csv"
    with exported.open(newline="", encoding="utf-8") as source:
        rows = [[row[0], row[3], row[2]] for row in csv.reader(source)]
    with trimmed.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    assert rows[1:3] == [
        ["'=1+1@example.org", "mlmw", "minor"],
        ["'+31@example.org", "'-beta mlmw", "major"],
    ]
    Subscriber.objects.all().delete()

    call_command("import_subscribers", str(trimmed), "--consented", stdout=StringIO())

    assert stored() == before


def test_a_hand_written_file_reads_an_apostrophe_before_a_formula_character_as_the_text_mark(
    tmp_path, guide, beta
):
    path = tmp_path / "hand.csv"
    path.write_text(
        "email,guides,cadence\n"
        "'=x@example.org,'-beta,major\n"  # as a spreadsheet user types it: text, not a formula
        "''=y@example.org,,\n"  # the address that itself begins with an apostrophe and =
        "'z@example.org,mlmw,\n"  # an apostrophe before anything else is part of the address
        " '+w@example.org ,,\n",  # spaces around a cell mean nothing
        encoding="utf-8",
    )

    call_command("import_subscribers", str(path), "--consented", stdout=StringIO())

    assert {(s.email, s.cadence, slugs(s)) for s in Subscriber.objects.all()} == {
        ("=x@example.org", "major", "-beta"),
        ("'=y@example.org", "every", "-beta mlmw"),
        ("'z@example.org", "every", "mlmw"),
        ("+w@example.org", "every", "-beta mlmw"),
    }


def test_the_admin_import_page_states_the_apostrophe_rule(list_admin_client, db):
    page = text(list_admin_client.get("/admin/subscriptions/subscriber/import/"))

    assert "A cell that begins with an apostrophe followed by = + - @" in page


@given(st.text())
def test_reading_a_protected_cell_gives_back_the_value(value):
    assert unprotect(protect(value)) == value
    assert not protect(value).startswith(FORMULA_STARTS)


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("'=1", "=1"),
        ("'+1", "+1"),
        ("'-1", "-1"),
        ("'@a", "@a"),
        ("'\tx", "\tx"),
        ("'\rx", "\rx"),
        ("''", "'"),
        ("'''=1", "''=1"),  # exactly one apostrophe comes off
        ("'x", "'x"),
        ("'", "'"),
        ("=1", "=1"),  # a file written by hand, or a spreadsheet's save, without the guard
        ("", ""),
    ],
)
def test_the_import_removes_exactly_one_apostrophe_and_only_before_what_the_export_guards(
    cell, value
):
    assert unprotect(cell) == value


@pytest.mark.parametrize("start", ["\uff1d", "\uff0b", "\uff0d", "\uff20"])
def test_a_cell_beginning_with_a_full_width_formula_character_is_exported_as_text(
    tmp_path, guide, start
):
    add("ann@example.org", source=f"{start}HYPERLINK(1)")

    with export(tmp_path).open(newline="", encoding="utf-8") as exported:
        [row] = list(csv.DictReader(exported))

    assert row["source"] == f"'{start}HYPERLINK(1)"
    assert unprotect(row["source"]) == f"{start}HYPERLINK(1)"
