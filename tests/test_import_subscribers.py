"""Importing subscribers from CSV, from the command line and the admin: all of it or nothing."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guide.models import Guide
from subscriptions import addresses, importing, lifecycle
from subscriptions.models import Subscriber, SubscriberEvent, SuppressedAddress
from tests.mails import mailed_path
from tests.pages import text

IMPORT_URL = "/admin/subscriptions/subscriber/import/"
CHANGELIST_URL = "/admin/subscriptions/subscriber/"


@pytest.fixture
def guides(guide) -> tuple[Guide, Guide]:
    """Two guides: mlmw (from conftest) and mdtp."""
    return guide, Guide.objects.create(slug="mdtp", title="Machine learning deep dives")


def csv_file(tmp_path: Path, content: str | bytes, name: str = "subscribers.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def run_import(path: Path, *args: str, capture) -> tuple[str, str]:
    """manage.py import_subscribers, with the on-commit mail tasks run as a real commit runs them."""
    out, err = StringIO(), StringIO()
    with capture(execute=True):
        call_command("import_subscribers", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def rejected(path: Path, *args: str, capture) -> tuple[str, str]:
    """Run an import expected to fail; return (the one-line error, stderr)."""
    err = StringIO()
    with capture(execute=True), pytest.raises(CommandError) as failure:
        call_command("import_subscribers", str(path), *args, stdout=StringIO(), stderr=err)
    return str(failure.value), err.getvalue()


def nothing_written() -> bool:
    return (
        not Subscriber.objects.exists()
        and not SubscriberEvent.objects.exists()
        and not Subscriber.guides.through.objects.exists()
        and not mail.outbox
    )


def subscriber(email: str) -> Subscriber:
    return Subscriber.objects.get(email_key=addresses.key(email))


def slugs(sub: Subscriber) -> set[str]:
    return {guide.slug for guide in sub.guides.all()}


# --- Bad input: a clear report, nothing written --------------------------------------------------


def test_a_file_with_several_bad_rows_is_rejected_with_every_bad_row_and_nothing_is_created(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    path = csv_file(
        tmp_path,
        "email,guides,cadence\n"
        "ann@example.org,mlmw,every\n"
        "Ann Example <ann@example.org>,,\n"
        "bob@example.org,mlmw nope,\n"
        "cy@example.org,,weekly\n"
        "dee@example.org,mlmw,every,extra\n"
        "eve@example.org\n"
        "fay@example.org,mdtp,major\n"
        "not-an-address,,\n",
    )

    error, report = rejected(path, capture=django_capture_on_commit_callbacks)

    assert error == "The file was not imported: 6 bad rows. Nothing was changed."
    assert report.splitlines() == [
        "line 3: address 'Ann Example <ann@example.org>': Enter the address alone, like "
        "ann@example.org, without a name or spaces",
        "line 4: unknown guide 'nope' (the guides are mdtp, mlmw)",
        "line 5: cadence 'weekly': use every, minor or major (or leave it empty)",
        "line 6: 4 fields, more than the 3 columns of the header",
        "line 7: 1 field, fewer than the 3 columns of the header",
        "line 9: address 'not-an-address': Enter a valid email address, like ann@example.org",
    ]
    assert nothing_written()


def test_a_row_with_several_problems_gets_all_of_them_on_its_line(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    path = csv_file(tmp_path, "email,guides,cadence\nann@@example.org,nope,daily\n")

    _, report = rejected(path, capture=django_capture_on_commit_callbacks)

    assert report.startswith("line 2: address 'ann@@example.org': ")
    assert "; unknown guide 'nope' (the guides are mdtp, mlmw); cadence 'daily'" in report
    assert nothing_written()


def test_lines_that_are_not_utf8_are_reported_with_their_numbers(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    path = csv_file(
        tmp_path,
        b"email\nann@example.org\n" + "zoë@example.org\n".encode("latin-1")
        + b"bob@example.org\n" + "\u00e9@example.org\n".encode("cp1252"),
    )  # fmt: skip

    _, report = rejected(path, capture=django_capture_on_commit_callbacks)

    assert report.splitlines() == [
        "line 3: not UTF-8 text: save the file as CSV UTF-8",
        "line 5: not UTF-8 text: save the file as CSV UTF-8",
    ]
    assert nothing_written()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "The file is empty: expected a header line (email,guides,cadence) and rows."),
        ("\n\n", "The file is empty: expected a header line (email,guides,cadence) and rows."),
        ("email,guides,cadence\n", "The file has a header but no rows."),
        (
            "ann@example.org\nbob@example.org\n",
            "line 1: bad header: no 'email' column; unknown column 'ann@example.org'; the first "
            "line must name the columns, e.g. email,guides,cadence",
        ),
        (
            "email;guides\nann@example.org;mlmw\n",
            "line 1: bad header: no 'email' column; unknown column 'email;guides'; the first line "
            "must name the columns, e.g. email,guides,cadence (separated by commas)",
        ),
        (
            "email,name\nann@example.org,Ann\n",
            "line 1: bad header: unknown column 'name'; the first line must name the columns, "
            "e.g. email,guides,cadence",
        ),
        (
            "email,\nann@example.org,\n",
            "line 1: bad header: unknown column '' (a trailing comma?); the first line must name "
            "the columns, e.g. email,guides,cadence",
        ),
        (
            "email,email\nann@example.org,ann@example.org\n",
            "line 1: bad header: repeated column 'email'; the first line must name the columns, "
            "e.g. email,guides,cadence",
        ),
        (
            "email,email,cadence,cadence\nann@example.org,ann@example.org,every,every\n",
            "line 1: bad header: repeated columns 'cadence', 'email'; the first line must name the "
            "columns, e.g. email,guides,cadence",
        ),
        (
            'email\n"ann@example.org"x\n',
            "line 2: not valid CSV (',' expected after '\"')",
        ),
        (
            "email\nann@example.org\x00\n",
            "line 2: address 'ann@example.org\\x00': The domain of this address is not valid",
        ),
        (
            "email\n" + "a" * 20_000 + "@example.org\nbob@example.org\n",
            "line 2: the line is longer than 10000 bytes",
        ),
    ],
    ids=[
        "empty",
        "blank-lines-only",
        "header-only",
        "no-header",
        "semicolons",
        "unknown-column",
        "unnamed-column",
        "repeated-column",
        "repeated-columns",
        "bad-quoting",
        "nul-byte",
        "huge-line",
    ],
)
def test_a_malformed_file_is_rejected_with_one_clear_reason(
    tmp_path, guides, django_capture_on_commit_callbacks, content, reason
):
    path = csv_file(tmp_path, content)

    error, report = rejected(path, capture=django_capture_on_commit_callbacks)

    assert report.splitlines() == [reason]
    assert error == "The file was not imported: 1 bad row. Nothing was changed."
    assert nothing_written()


def test_a_missing_file_is_a_one_line_error(tmp_path, db):
    with pytest.raises(CommandError) as failure:
        call_command("import_subscribers", str(tmp_path / "nope.csv"), stderr=StringIO())

    assert str(failure.value) == f"cannot read {tmp_path / 'nope.csv'}: No such file or directory"


def test_a_directory_instead_of_a_file_is_a_one_line_error(tmp_path, db):
    with pytest.raises(CommandError) as failure:
        call_command("import_subscribers", str(tmp_path), stderr=StringIO())

    assert str(failure.value) == f"cannot read {tmp_path}: Is a directory"


def test_a_report_of_many_bad_rows_shows_the_first_ones_and_counts_the_rest(
    tmp_path, guides, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(importing, "MAX_REPORTED_ERRORS", 30)
    monkeypatch.setattr("subscriptions.management.commands.import_subscribers.SHOWN_ERRORS", 10)
    path = csv_file(tmp_path, "email\n" + "".join(f"bad-{n}\n" for n in range(50)))

    error, report = rejected(path, capture=django_capture_on_commit_callbacks)
    with path.open("rb") as file:
        kept, _rows = importing.validate(file)

    assert error == "The file was not imported: 50 bad rows. Nothing was changed."
    assert report.splitlines()[0].startswith("line 2: address 'bad-0': ")
    assert report.splitlines()[9].startswith("line 11: address 'bad-9': ")
    assert report.splitlines()[10:] == ["… and 40 more"]
    # The report itself holds no more than MAX_REPORTED_ERRORS rows, however long the file.
    assert (len(kept.errors), kept.error_count, kept.not_shown) == (30, 50, 20)
    assert nothing_written()


def test_a_failure_while_writing_leaves_nothing_written(
    tmp_path, guides, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(importing, "CHUNK_SIZE", 2)
    calls = []
    write = importing.Writer.write

    def write_then_fail(self, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return write(self, rows)

    monkeypatch.setattr(importing.Writer, "write", write_then_fail)
    path = csv_file(tmp_path, "email\na@example.org\nb@example.org\nc@example.org\n")

    with pytest.raises(RuntimeError):
        run_import(path, capture=django_capture_on_commit_callbacks)

    assert calls == [2, 1]
    assert nothing_written()


# --- Pending and consented imports ----------------------------------------------------------------


def test_without_consent_new_addresses_are_pending_and_each_gets_one_confirmation_mail(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    path = csv_file(
        tmp_path,
        "email,guides,cadence\nann@example.org,mlmw,minor\nbob@example.org,,\nAnn@Example.org,,\n",
    )

    out, _ = run_import(path, capture=django_capture_on_commit_callbacks)

    assert out == (
        "3 rows: 2 created (pending, confirmation mail enqueued), 1 merged, "
        "0 suppressed (erased addresses, skipped).\n"
    )
    assert sorted(m.to[0] for m in mail.outbox) == ["ann@example.org", "bob@example.org"]
    ann, bob = subscriber("ann@example.org"), subscriber("bob@example.org")
    assert (ann.status, ann.cadence, ann.source, ann.confirmed_at) == (
        "pending", "minor", "import", None
    )  # fmt: skip
    assert bob.status == "pending" and bob.cadence == "every"
    assert list(ann.events.values_list("kind", flat=True)) == ["confirmation_sent", "imported"]


def test_an_imported_pending_subscriber_confirms_with_the_link_in_their_mail(
    tmp_path, client, guides, django_capture_on_commit_callbacks
):
    path = csv_file(tmp_path, "email\nann@example.org\n")
    run_import(path, capture=django_capture_on_commit_callbacks)

    response = client.post(mailed_path(mail.outbox[0].body, "/confirm/"), follow=True)

    ann = subscriber("ann@example.org")
    assert response.status_code == 200
    assert ann.status == "confirmed" and ann.consent_at is not None


def test_with_consent_new_addresses_are_confirmed_and_nobody_is_mailed(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    path = csv_file(tmp_path, "email,cadence\nann@example.org,major\nbob@example.org,\n")

    out, _ = run_import(path, "--consented", capture=django_capture_on_commit_callbacks)

    assert out.startswith("2 rows: 2 created (confirmed), 0 merged, 0 suppressed")
    assert mail.outbox == []
    ann = subscriber("ann@example.org")
    assert ann.status == "confirmed" and ann.cadence == "major"
    assert ann.confirmed_at is not None and ann.confirmed_at == ann.consent_at
    assert ann.source == "import" and ann.confirm_nonce == ""
    assert list(ann.events.values_list("kind", "detail")) == [("imported", "imported with consent")]
    assert Subscriber.objects.confirmed().count() == 2


def test_empty_guides_mean_every_guide_and_an_empty_cadence_means_every_release(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    path = csv_file(
        tmp_path,
        "email,guides,cadence\nann@example.org,,\nbob@example.org,MDTP,Minor\n"
        'cy@example.org,"mlmw; mdtp",major\n',
    )

    run_import(path, "--consented", capture=django_capture_on_commit_callbacks)

    assert slugs(subscriber("ann@example.org")) == {"mlmw", "mdtp"}
    assert subscriber("ann@example.org").cadence == "every"
    assert slugs(subscriber("bob@example.org")) == {"mdtp"}
    assert subscriber("bob@example.org").cadence == "minor"
    assert slugs(subscriber("cy@example.org")) == {"mlmw", "mdtp"}


def test_a_spreadsheet_export_with_a_bom_crlf_line_ends_and_capitalised_headers_is_accepted(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    path = csv_file(
        tmp_path, "\ufeffEmail,Guides\r\nann@example.org,mlmw\r\n,,\r\nbob@BÜCHER.example,\r\n"
    )

    out, _ = run_import(path, "--consented", capture=django_capture_on_commit_callbacks)

    assert out.startswith("2 rows: 2 created")
    assert set(Subscriber.objects.values_list("email", flat=True)) == {
        "ann@example.org",
        "bob@xn--bcher-kva.example",
    }


# --- Duplicates merge ---------------------------------------------------------------------------------


def test_duplicates_within_the_file_merge_into_one_subscriber_with_the_guides_they_list(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    path = csv_file(
        tmp_path,
        "email,guides,cadence\nann@example.org,mlmw,minor\nANN@example.org,mdtp,major\n"
        "ann@EXAMPLE.org,,every\n",
    )

    out, _ = run_import(path, capture=django_capture_on_commit_callbacks)

    assert out.startswith("3 rows: 1 created (pending, confirmation mail enqueued), 2 merged")
    ann = Subscriber.objects.get()
    # The first row creates the subscriber (its address and cadence); later rows add guides.
    assert (ann.email, ann.cadence) == ("ann@example.org", "minor")
    assert slugs(ann) == {"mlmw", "mdtp"}
    assert len(mail.outbox) == 1


def test_duplicates_merge_the_same_way_across_chunks(
    tmp_path, guides, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(importing, "CHUNK_SIZE", 2)
    path = csv_file(
        tmp_path,
        "email,guides\nann@example.org,mlmw\nbob@example.org,\ncy@example.org,mdtp\n"
        "Ann@example.org,mdtp\nbob@example.org,mlmw\ndee@example.org,\n",
    )

    out, _ = run_import(path, capture=django_capture_on_commit_callbacks)

    assert out.startswith("6 rows: 4 created (pending, confirmation mail enqueued), 2 merged")
    assert slugs(subscriber("ann@example.org")) == {"mlmw", "mdtp"}
    assert slugs(subscriber("bob@example.org")) == {"mlmw", "mdtp"}
    assert slugs(subscriber("cy@example.org")) == {"mdtp"}
    assert sorted(m.to[0] for m in mail.outbox) == [
        "ann@example.org",
        "bob@example.org",
        "cy@example.org",
        "dee@example.org",
    ]


def test_an_existing_confirmed_subscriber_keeps_status_and_cadence_and_gains_listed_guides(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    mlmw, _ = guides
    confirmed_at = timezone.now()
    ann = Subscriber.objects.create(
        email="ann@example.org", email_key="ann@example.org", status="confirmed",
        confirmed_at=confirmed_at, cadence="major", source="form",
    )  # fmt: skip
    ann.guides.set([mlmw])
    path = csv_file(tmp_path, "email,guides,cadence\nANN@example.org,mdtp,every\n")

    out, _ = run_import(path, capture=django_capture_on_commit_callbacks)

    ann.refresh_from_db()
    assert out.startswith("1 row: 0 created (pending, confirmation mail enqueued), 1 merged")
    assert (ann.status, ann.cadence, ann.source, ann.confirmed_at) == (
        "confirmed", "major", "form", confirmed_at
    )  # fmt: skip
    assert slugs(ann) == {"mlmw", "mdtp"}
    assert ann.events.get().detail == "in an import again; guides listed: mdtp"
    assert mail.outbox == []


def test_an_import_does_not_resubscribe_someone_who_unsubscribed(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    bob = Subscriber.objects.create(
        email="bob@example.org", email_key="bob@example.org", status="unsubscribed"
    )
    path = csv_file(tmp_path, "email\nbob@example.org\n")

    run_import(path, "--consented", capture=django_capture_on_commit_callbacks)

    bob.refresh_from_db()
    assert bob.status == "unsubscribed"
    assert slugs(bob) == set()  # an empty guides column adds nothing to an existing subscriber
    assert mail.outbox == []


def test_an_address_subscribed_through_the_form_during_the_import_is_merged_not_a_failure(
    tmp_path, guides, django_capture_on_commit_callbacks, monkeypatch
):
    create = importing.Writer.create_new

    def form_wins_the_race(self, rows):
        # The form commits bob between the import's "who exists?" query and its insert.
        Subscriber.objects.create(email="bob@example.org", email_key="bob@example.org")
        return create(self, rows)

    monkeypatch.setattr(importing.Writer, "create_new", form_wins_the_race)
    path = csv_file(tmp_path, "email,guides\nann@example.org,\nbob@example.org,mdtp\n")

    out, _ = run_import(path, capture=django_capture_on_commit_callbacks)

    assert out.startswith("2 rows: 1 created (pending, confirmation mail enqueued), 1 merged")
    assert Subscriber.objects.count() == 2
    assert slugs(subscriber("bob@example.org")) == {"mdtp"}
    assert [m.to for m in mail.outbox] == [["ann@example.org"]]


def test_the_confirmation_task_mails_only_the_subscribers_of_its_import(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    from subscriptions.tasks import send_import_confirmations

    path = csv_file(tmp_path, "email\nann@example.org\nbob@example.org\n")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("import_subscribers", str(path), stdout=StringIO())
    ann, bob = subscriber("ann@example.org"), subscriber("bob@example.org")
    # Someone else subscribes meanwhile (pk inside the range) and bob confirms before the task runs.
    other = Subscriber.objects.create(
        email="cy@example.org", email_key="cy@example.org", confirm_nonce="n",
        confirm_sent_at=ann.confirm_sent_at + timedelta(seconds=1), source="import",
    )  # fmt: skip
    Subscriber.objects.filter(pk=bob.pk).update(status="confirmed", confirmed_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):  # each mail is published on commit
        sent = send_import_confirmations(
            min(ann.pk, other.pk), max(bob.pk, other.pk), ann.confirm_sent_at.isoformat()
        )

    assert len(callbacks) == 1  # one task per chunk, not one per subscriber
    assert sent == 1
    assert [m.to for m in mail.outbox] == [["ann@example.org"]]


# --- Suppressed addresses -------------------------------------------------------------------------


def test_an_erased_address_is_skipped_and_counted(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    gone = Subscriber.objects.create(email="gone@example.org", email_key="gone@example.org")
    lifecycle.erase(gone, how="test")
    path = csv_file(tmp_path, "email\nGone@Example.org\nann@example.org\ngone@example.org\n")

    out, _ = run_import(path, capture=django_capture_on_commit_callbacks)

    assert out == (
        "3 rows: 1 created (pending, confirmation mail enqueued), 0 merged, "
        "2 suppressed (erased addresses, skipped).\n"
    )
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ann@example.org"]
    assert [m.to for m in mail.outbox] == [["ann@example.org"]]
    assert SuppressedAddress.objects.filter(
        address_hash=addresses.suppression_hash("gone@example.org")
    ).exists()


def test_suppression_is_checked_once_per_chunk_not_once_per_row(tmp_path, guides, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK_SIZE", 200)
    path = csv_file(tmp_path, "email\n" + "".join(f"s{n}@example.org\n" for n in range(300)))

    with CaptureQueriesContext(connection) as queries, path.open("rb") as file:
        importing.import_subscribers(file, consented=True)

    suppression_queries = [q for q in queries if "subscriptions_suppressedaddress" in q["sql"]]
    assert len(suppression_queries) == 2  # 300 rows in chunks of 200
    assert Subscriber.objects.count() == 300


# --- From the admin -------------------------------------------------------------------------------


def upload(content: str | bytes, name: str = "list.csv") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_the_admin_import_page_with_a_bad_file_shows_the_report_and_imports_nothing(
    list_admin_client, guides, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        posted = list_admin_client.post(
            IMPORT_URL,
            {"file": upload("email,cadence\nann@example.org,every\nbob@,daily\nx\n")},
        )

    # The upload became a job, which a worker ran; its page has the report.
    assert posted.status_code == 302
    assert posted["Location"].startswith(IMPORT_URL)
    response = list_admin_client.get(posted["Location"])
    page = text(response)
    assert response.status_code == 400
    assert "The file was not imported: 2 bad rows. Nothing was changed." in page
    assert (
        "line 3: address 'bob@': The domain of this address is not valid; cadence 'daily': use "
        "every, minor or major (or leave it empty)" in page
    )
    assert "line 4: 1 field, fewer than the 2 columns of the header" in page
    assert nothing_written()


def test_the_admin_import_page_imports_a_good_file_and_says_what_it_did(
    list_admin_client, guides, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        posted = list_admin_client.post(
            IMPORT_URL,
            {"file": upload("email\nann@example.org\nbob@example.org\nann@example.org\n")},
        )

    assert posted.status_code == 302
    response = list_admin_client.get(posted["Location"])
    assert (
        "Imported list.csv: 3 rows, 2 new subscribers (pending, each sent a confirmation mail), "
        "1 merged into an existing one, 0 skipped as erased addresses." in text(response)
    )
    assert Subscriber.objects.filter(status="pending").count() == 2
    assert len(mail.outbox) == 2


def test_the_admin_import_of_consented_addresses_confirms_them_without_mail(
    list_admin_client, guides, django_capture_on_commit_callbacks, settings
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # the upload goes through a temporary file on disk
    with django_capture_on_commit_callbacks(execute=True):
        response = list_admin_client.post(
            IMPORT_URL, {"file": upload("email\nann@example.org\n"), "consented": "on"}
        )

    assert response.status_code == 302
    assert subscriber("ann@example.org").status == "confirmed"
    assert mail.outbox == []
    page = text(list_admin_client.get(response["Location"]))
    assert (
        "Imported list.csv: 1 row, 1 new subscriber (confirmed), 0 merged into existing ones, "
        "0 skipped as erased addresses." in page
    )


def test_the_admin_import_page_without_a_file_asks_for_one_and_imports_nothing(
    list_admin_client, guides
):
    response = list_admin_client.post(IMPORT_URL, {"consented": "on"})
    empty = list_admin_client.post(IMPORT_URL, {"file": upload("")})

    assert response.status_code == 400 and "This field is required." in text(response)
    assert empty.status_code == 400 and "The submitted file is empty." in text(empty)
    assert nothing_written()


def test_the_admin_import_page_explains_the_format_and_the_consent_choice(list_admin_client, db):
    response = list_admin_client.get(IMPORT_URL)

    page = text(response)
    assert response.status_code == 200
    assert "email,guides,cadence" in page
    assert "These addresses consented" in page
    assert (
        "An export imports back as it is: its other columns (status, created_at, confirmed_at, "
        "consent_at, source) are read past" in page
    )


def test_an_editor_cannot_open_the_import_page(editor_client, guides):
    get = editor_client.get(IMPORT_URL)
    post = editor_client.post(IMPORT_URL, {"file": upload("email\nann@example.org\n")})

    assert get.status_code == 403 and post.status_code == 403
    assert nothing_written()


# --- An export back in; good rows only ------------------------------------------------------------


def test_an_export_imports_back_as_it_is_and_the_result_names_the_columns_read_past(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    from subscriptions import exporting
    from tests.conftest import make_subscribers

    mlmw, mdtp = guides
    make_subscribers(mlmw, "reader", 3, guides=(mdtp,), cadence="major")
    exported = "".join(exporting.iter_csv_text(exporting.iter_csv_rows()))
    assert exported.splitlines()[0].startswith("email,status,cadence,guides,created_at")
    Subscriber.objects.all().delete()

    path = csv_file(tmp_path, exported)
    with django_capture_on_commit_callbacks(execute=True), path.open("rb") as file:
        result = importing.import_subscribers(file, consented=True)

    assert (result.created, result.rows) == (3, 3)
    assert result.ignored_columns == (
        "status", "created_at", "confirmed_at", "consent_at", "source"
    )  # fmt: skip
    assert slugs(subscriber("reader-01@example.org")) == {"mlmw", "mdtp"}
    assert subscriber("reader-01@example.org").cadence == "major"


BAD_AND_GOOD = (
    "email,guides,cadence\n"
    "ann@example.org,mlmw,every\n"
    "bob@example,mlmw,every\n"
    "cy@example.org,nosuchguide,every\n"
    "dee@example.org,mdtp,major\n"
)


def test_skipping_bad_rows_imports_the_good_ones_and_reports_the_bad_ones(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    path = csv_file(tmp_path, BAD_AND_GOOD)

    with django_capture_on_commit_callbacks(execute=True), path.open("rb") as file:
        result = importing.import_subscribers(file, consented=True, skip_bad_rows=True)

    assert result.created == 2
    assert set(Subscriber.objects.values_list("email", flat=True)) == {
        "ann@example.org",
        "dee@example.org",
    }
    assert [error.line for error in result.skipped.errors] == [3, 4]
    assert importing.report_csv(result.skipped).splitlines() == [
        "line,reason",
        "3,address 'bob@example': The domain of this address is not valid",
        "4,\"unknown guide 'nosuchguide' (the guides are mdtp, mlmw)\"",
    ]


def test_without_skipping_one_bad_row_still_stops_the_whole_file(
    tmp_path, guides, django_capture_on_commit_callbacks
):
    path = csv_file(tmp_path, BAD_AND_GOOD)

    with pytest.raises(importing.ImportRejected), path.open("rb") as file:
        importing.import_subscribers(file, consented=True)
    assert nothing_written()


def test_a_file_whose_header_is_bad_is_rejected_even_when_skipping_bad_rows(tmp_path, guides):
    path = csv_file(tmp_path, "mail,guides\nann@example.org,mlmw\n")

    with pytest.raises(importing.ImportRejected), path.open("rb") as file:
        importing.import_subscribers(file, skip_bad_rows=True)
    assert nothing_written()


def test_the_import_page_lists_the_guide_slugs_and_offers_skipping_bad_rows(
    list_admin_client, guides, tmp_path, django_capture_on_commit_callbacks
):
    page = list_admin_client.get(IMPORT_URL)

    assert "The guides are: mdtp, mlmw." in text(page)
    upload = SimpleUploadedFile("s.csv", BAD_AND_GOOD.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        posted = list_admin_client.post(
            IMPORT_URL, {"file": upload, "consented": "on", "skip_bad_rows": "on"}
        )
    response = list_admin_client.get(posted["Location"])

    assert response.status_code == 200
    page_text = text(response)
    assert "2 bad rows skipped; the other rows were imported." in page_text
    assert "line 3: address 'bob@example'" in page_text
    assert 'download="import-skipped-rows.csv" href="data:text/csv' in response.content.decode()
    assert Subscriber.objects.count() == 2


def test_an_import_job_page_follows_a_running_import_without_script_and_runs_it_once(
    list_admin_client, guides, list_admin
):
    from django.core.files.base import ContentFile

    from subscriptions.models import ImportJob

    job = ImportJob.objects.create(
        file=ContentFile(b"email\nann@example.org\n", name="list.csv"),
        name="list.csv",
        consented=True,
        created_by=list_admin,
    )
    waiting = list_admin_client.get(f"{IMPORT_URL}{job.pk}/").content.decode()
    assert '<meta http-equiv="refresh" content="2">' in waiting
    assert "Waiting for a worker" in waiting
    assert "<script" not in waiting.split("<body")[1]

    assert importing.run_job(job.pk) == "done"
    assert importing.run_job(job.pk) == ""  # a redelivered task finds it taken: nothing twice

    done = list_admin_client.get(f"{IMPORT_URL}{job.pk}/").content.decode()
    assert 'http-equiv="refresh"' not in done
    assert "Imported list.csv: 1 row, 1 new subscriber (confirmed)" in done
    assert Subscriber.objects.count() == 1
    job.refresh_from_db()
    assert not job.file  # the uploaded file is not kept once imported
