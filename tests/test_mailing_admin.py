"""Release mailings in the admin: progress, pause, resume, cancel, and the per-recipient ledger.

A mailing is made the way publishing makes it: publish() writes it, and audience.start() (the
start_mailing task) fixes its audience into queued deliveries and batches. Tests that need it sent
run the on-commit callbacks, so the eager send_batch tasks really send (to mail.outbox).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guide import publishing
from guide.models import Guide, Version
from subscriptions import addresses, audience, delivery
from subscriptions.models import Batch, Delivery, Mailing, Subscriber
from tests.forms import page_forms
from tests.pages import hrefs, text

MAILINGS = "/admin/subscriptions/mailing/"
DELIVERIES = "/admin/subscriptions/delivery/"

pytestmark = pytest.mark.django_db


def subscriber(email: str, guide: Guide, status: str = Subscriber.Status.CONFIRMED) -> Subscriber:
    confirmed = status == Subscriber.Status.CONFIRMED
    made = Subscriber.objects.create(
        email=email,
        email_key=addresses.key(email),
        status=status,
        confirmed_at=timezone.now() if confirmed else None,
    )
    made.guides.add(guide)
    return made


def started_mailing(version: Version) -> Mailing:
    """Publish `version` and fix its audience, without sending anything yet."""
    publishing.publish(version)  # the `db` test never commits: start_mailing is not enqueued
    mailing = Mailing.objects.get(version=version)
    assert audience.start(mailing.pk)
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.SENDING
    return mailing


def page(url: str) -> str:
    return f"{MAILINGS}{url}"


def change_url(mailing: Mailing) -> str:
    return f"{MAILINGS}{mailing.pk}/change/"


def table_row(response, first_cell: str) -> list[str]:
    """The text of each cell of the changelist row whose first data cell is `first_cell`."""
    html = response.content.decode()
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = [text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        cells = cells[1:] if cells and cells[0] == "" else cells  # the action checkbox
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row for {first_cell}")


def table(response, table_id: str) -> list[list[str]]:
    """The rows of the page's table with that id, each a list of its cells' text."""
    html = response.content.decode()
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert found, f"no table {table_id}"
    return [
        [text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", found[1], re.S)
    ]


def operations(response) -> list[str]:
    """The mailing operations the page has a button (a form) for: pause, resume, cancel."""
    found = [re.fullmatch(rf"{MAILINGS}\d+/(\w+)/", form.action) for form in page_forms(response)]
    return sorted(match[1] for match in found if match and match[1] != "change")


def header_cells(response) -> list[str]:
    html = response.content.decode()
    head = re.search(r"<thead>(.*?)</thead>", html, re.S)[1]
    cells = [text(cell) for cell in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]
    return [cell for cell in cells if cell]


@pytest.fixture
def ann(guide) -> Subscriber:
    return subscriber("ann@example.org", guide)


@pytest.fixture
def bob(guide) -> Subscriber:
    return subscriber("bob@example.org", guide)


# --- Progress ----------------------------------------------------------------------------------------


def test_the_mailing_list_shows_each_mailings_progress_by_delivery_status(
    list_admin_client, guide, v0_10_0
):
    mailing = Mailing.objects.create(
        version=v0_10_0, status=Mailing.Status.SENDING, audience_size=9, started_at=timezone.now()
    )
    statuses = ["queued"] * 3 + ["sent"] * 2 + ["failed", "skipped", "bounced", "bounced"]
    for n, status in enumerate(statuses):
        Delivery.objects.create(
            mailing=mailing, subscriber=subscriber(f"r{n}@example.org", guide), status=status
        )

    response = list_admin_client.get(MAILINGS)

    assert response.status_code == 200
    columns = header_cells(response)
    row = dict(zip(columns, table_row(response, "mlmw 0.10.0"), strict=True))
    assert row["Status"] == "Sending"
    assert row["Audience size"] == "9"
    assert (row["Queued"], row["Sent"], row["Failed"], row["Skipped"], row["Bounced"]) == (
        "3",
        "2",
        "1",
        "1",
        "2",
    )


def test_a_page_of_mailings_counts_its_progress_in_one_query_whatever_its_length(
    list_admin_client, guide, v0_9_0, v0_10_0, draft
):
    reader = subscriber("ann@example.org", guide)

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert list_admin_client.get(MAILINGS).status_code == 200
        return len(queries)

    Mailing.objects.create(version=v0_9_0, status=Mailing.Status.DONE)
    one = queries_for_list()
    for version in (v0_10_0, publishing.publish(draft)):
        mailing, _ = Mailing.objects.get_or_create(version=version)
        Delivery.objects.create(mailing=mailing, subscriber=reader, status="sent")
    three = queries_for_list()

    assert Mailing.objects.count() == 3
    assert three == one


def test_the_mailing_page_shows_progress_and_each_batchs_status_attempts_and_last_error(
    list_admin_client, draft, ann, bob
):
    mailing = started_mailing(draft)
    [batch] = mailing.batches.all()
    Batch.objects.filter(pk=batch.pk).update(attempts=2, last_error="ESP answered 503")

    response = list_admin_client.get(change_url(mailing))
    page_text = text(response)

    assert response.status_code == 200
    assert table(response, "mailing-progress") == [
        ["Queued", "Sent", "Failed", "Skipped", "Bounced"],
        ["2", "0", "0", "0", "0"],
    ]
    assert "1 batch: 1 queued." in page_text
    assert table(response, "mailing-batches")[1][:6] == [
        str(batch.pk),
        "—",
        "2",
        "Queued",
        "2",
        "ESP answered 503",
    ]
    assert f"{DELIVERIES}?mailing={mailing.pk}&status__exact=queued" in hrefs(response)


# --- Pause, resume, cancel ---------------------------------------------------------------------------


def test_pausing_a_mailing_stops_its_batches_being_claimed(list_admin_client, draft, ann, bob):
    mailing = started_mailing(draft)
    [batch] = mailing.batches.all()

    response = list_admin_client.post(page(f"{mailing.pk}/pause/"), follow=True)

    assert "Paused the mailing of mlmw 0.10.1" in text(response)
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.PAUSED
    # A send_batch task that runs now (already in the broker) claims nothing and sends nothing.
    assert delivery.send(batch.pk) is None
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == (Batch.Status.QUEUED, 0)
    assert set(mailing.deliveries.values_list("status", flat=True)) == {"queued"}
    assert mail.outbox == []
    # Nor does the sweeper hand a paused mailing's batches out again.
    assert delivery.sweep(now=timezone.now() + timedelta(hours=1)).batches == []


def test_resuming_a_paused_mailing_enqueues_its_batches_and_the_mail_goes_out(
    list_admin_client, draft, ann, bob, django_capture_on_commit_callbacks
):
    mailing = started_mailing(draft)
    list_admin_client.post(page(f"{mailing.pk}/pause/"))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = list_admin_client.post(page(f"{mailing.pk}/resume/"), follow=True)

    assert len(callbacks) == 1  # the batches are enqueued once the resume committed
    assert "Resumed the mailing of mlmw 0.10.1: 1 queued batch(es) enqueued again." in text(
        response
    )
    assert sorted(m.to[0] for m in mail.outbox) == ["ann@example.org", "bob@example.org"]
    assert all(m.subject.startswith("The MLMW guide 0.10.1: ") for m in mail.outbox)
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.DONE
    assert set(mailing.deliveries.values_list("status", flat=True)) == {"sent"}


def test_cancelling_a_mailing_skips_its_queued_deliveries_and_cancels_its_queued_batches(
    list_admin_client, draft, ann, bob
):
    mailing = started_mailing(draft)

    response = list_admin_client.post(
        page(f"{mailing.pk}/cancel/"), {"confirm": "yes"}, follow=True
    )

    assert "Cancelled the mailing of mlmw 0.10.1" in text(response)
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.CANCELLED and mailing.finished_at is not None
    assert set(mailing.batches.values_list("status", flat=True)) == {"cancelled"}
    assert set(mailing.deliveries.values_list("status", "error")) == {
        ("skipped", "mailing cancelled")
    }
    assert delivery.send(mailing.batches.get().pk) is None
    assert mail.outbox == []


def test_a_cancel_without_the_confirmation_box_ticked_changes_nothing(
    list_admin_client, draft, ann
):
    mailing = started_mailing(draft)

    response = list_admin_client.post(page(f"{mailing.pk}/cancel/"), follow=True)

    assert "Not cancelled: tick the box to confirm the cancel." in text(response)
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.SENDING
    assert set(mailing.deliveries.values_list("status", flat=True)) == {"queued"}


def test_a_finished_mailing_has_nothing_to_pause_resume_or_cancel(
    list_admin_client, draft, ann, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        publishing.publish(draft)
    mailing = Mailing.objects.get(version=draft)
    assert mailing.status == Mailing.Status.DONE and len(mail.outbox) == 1

    answers = [
        text(list_admin_client.post(page(f"{mailing.pk}/{operation}/"), data, follow=True))
        for operation, data in [("pause", {}), ("resume", {}), ("cancel", {"confirm": "yes"})]
    ]

    assert "Mailing of mlmw 0.10.1: nothing to pause: the mailing is done." in answers[0]
    assert "Mailing of mlmw 0.10.1: nothing to resume: the mailing is done." in answers[1]
    assert "Mailing of mlmw 0.10.1: nothing to cancel: the mailing is done." in answers[2]
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.DONE
    assert len(mail.outbox) == 1


def test_the_mailing_page_offers_the_operations_its_status_allows(list_admin_client, draft, ann):
    mailing = started_mailing(draft)

    def buttons() -> list[str]:
        return operations(list_admin_client.get(change_url(mailing)))

    sending = buttons()
    delivery.pause(mailing.pk)
    paused = buttons()
    delivery.cancel(mailing.pk)
    cancelled = buttons()

    # Cancelled, the reader it never reached can be sent it again (tests/test_resend_admin.py).
    assert (sending, paused, cancelled) == (["cancel", "pause"], ["cancel", "resume"], ["resend"])


def test_mailings_can_be_paused_from_the_list_with_an_action(list_admin_client, draft, ann):
    mailing = started_mailing(draft)

    response = list_admin_client.post(
        MAILINGS,
        {"action": "pause_selected", "index": "0", helpers.ACTION_CHECKBOX_NAME: [mailing.pk]},
        follow=True,
    )

    assert "Paused the mailing of mlmw 0.10.1" in text(response)
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.PAUSED


def test_nobody_adds_changes_or_deletes_a_mailing_by_hand(superuser, client, draft, ann):
    client.force_login(superuser)
    mailing = started_mailing(draft)

    add = client.get(page("add/"))
    change = client.post(change_url(mailing), {"status": "done", "audience_size": "0"})
    delete = client.post(page(f"{mailing.pk}/delete/"), {"post": "yes"})
    actions = text(client.get(MAILINGS))

    assert add.status_code == 403
    assert change.status_code == 403
    assert delete.status_code == 403
    assert "Delete selected" not in actions
    mailing.refresh_from_db()
    assert (mailing.status, mailing.audience_size) == (Mailing.Status.SENDING, 1)


# --- Who sees what -----------------------------------------------------------------------------------


def test_editors_see_mailings_but_not_deliveries_and_cannot_operate_them(editor_client, draft, ann):
    mailing = started_mailing(draft)

    listing = editor_client.get(MAILINGS)
    detail = editor_client.get(change_url(mailing))

    assert listing.status_code == 200 and "mlmw 0.10.1" in text(listing)
    assert detail.status_code == 200
    assert table(detail, "mailing-progress")[1] == ["1", "0", "0", "0", "0"]
    assert "mailing-batches" not in detail.content.decode()  # batches are the Admins' business
    assert operations(detail) == []
    assert not [href for href in hrefs(detail) if href.startswith(DELIVERIES)]
    assert "ann@example.org" not in detail.content.decode()
    assert editor_client.get(DELIVERIES).status_code == 403
    assert editor_client.post(page(f"{mailing.pk}/pause/")).status_code == 403
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.SENDING


def test_the_delivery_ledger_is_searchable_by_address_and_shows_message_ids_and_errors(
    list_admin_client, draft, ann, bob
):
    mailing = started_mailing(draft)
    mailing.deliveries.filter(subscriber=ann).update(
        status="sent", esp_message_id="<20261001.ANN@mg.mlmw.example>"
    )
    mailing.deliveries.filter(subscriber=bob).update(status="failed", error="refused by ESP")

    found = list_admin_client.get(DELIVERIES, {"q": "ann@example"})
    everyone = list_admin_client.get(DELIVERIES, {"mailing": mailing.pk, "status__exact": "failed"})

    assert found.status_code == 200
    assert "ann@example.org" in text(found) and "bob@example.org" not in text(found)
    assert "<20261001.ANN@mg.mlmw.example>" in text(found)
    assert "bob@example.org" in text(everyone) and "refused by ESP" in text(everyone)
    assert "ann@example.org" not in text(everyone)


def test_the_delivery_ledger_is_read_only(list_admin_client, draft, ann):
    mailing = started_mailing(draft)
    row = mailing.deliveries.get()

    change = list_admin_client.post(f"{DELIVERIES}{row.pk}/change/", {"status": "sent"})

    assert change.status_code == 403
    assert list_admin_client.get(f"{DELIVERIES}add/").status_code == 403
    assert list_admin_client.get(f"{DELIVERIES}{row.pk}/change/").status_code == 200
    row.refresh_from_db()
    assert row.status == "queued"


def test_a_batch_whose_worker_died_before_a_cancel_is_skipped_not_handed_out_again(
    list_admin_client, settings, draft, ann, bob
):
    mailing = started_mailing(draft)
    [batch] = mailing.batches.all()
    assert delivery.claim(batch.pk) is not None  # a worker took the batch, then was killed

    list_admin_client.post(page(f"{mailing.pk}/cancel/"), {"confirm": "yes"})
    # The batch being sent was left alone by the cancel ("a batch being sent finishes")...
    assert set(mailing.deliveries.values_list("status", flat=True)) == {"queued"}
    # ...but nobody is sending it: once its lease runs out the sweeper must not leave it queued.
    later = timezone.now() + timedelta(seconds=settings.MAIL_BATCH_LEASE_SECONDS + 1)
    found = delivery.sweep(now=later)

    assert found.batches == []
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CANCELLED
    assert set(mailing.deliveries.values_list("status", "error")) == {
        ("skipped", "mailing cancelled")
    }
    assert delivery.send(batch.pk) is None
    assert mail.outbox == []
