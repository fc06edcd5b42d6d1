"""The subscriber admin as the Admins group uses it, and what Editors cannot see."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from guide.models import Guide
from subscriptions import addresses, lifecycle
from subscriptions.models import Baseline, Subscriber, SubscriberEvent, SuppressedAddress
from tests.conftest import make_version
from tests.forms import page_form
from tests.pages import hrefs, text

CHANGELIST_URL = "/admin/subscriptions/subscriber/"


def make_subscriber(email: str, status: str = "confirmed", *, guides=(), **fields) -> Subscriber:
    now = timezone.now()
    if status == "confirmed":
        fields.setdefault("confirmed_at", now)
        fields.setdefault("consent_at", now)
    subscriber = Subscriber.objects.create(
        email=email, email_key=addresses.key(email), status=status, **fields
    )
    subscriber.guides.set(guides)
    return subscriber


def table_row(response, first_cell: str) -> list[str]:
    """The text of each cell of the changelist row whose first cell is `first_cell` (no checkbox)."""
    html = response.content.decode()
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = [text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)][1:]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row for {first_cell}")


def change_url(subscriber: Subscriber) -> str:
    return f"{CHANGELIST_URL}{subscriber.pk}/change/"


def act(client, action: str, *subscribers: Subscriber, **extra):
    """Run an admin action on the selected subscribers the way the changelist form posts it."""
    data = {
        "action": action,
        "index": "0",
        helpers.ACTION_CHECKBOX_NAME: [str(s.pk) for s in subscribers],
        **extra,
    }
    return client.post(CHANGELIST_URL, data, follow=True)


@pytest.fixture
def people(guide) -> dict[str, Subscriber]:
    mdtp = Guide.objects.create(slug="mdtp", title="Machine learning deep dives")
    return {
        "ann": make_subscriber("ann@example.org", guides=[guide], cadence="minor"),
        "bob": make_subscriber(
            "bob@example.org", "pending", guides=[guide, mdtp], confirm_nonce="old-nonce"
        ),
        "cy": make_subscriber("cy@example.org", "unsubscribed", guides=[mdtp]),
    }


# --- Who sees it ----------------------------------------------------------------------------------


def test_the_admins_group_may_manage_subscribers_and_only_read_guides(db):
    admins = Group.objects.get(name="Admins")
    codenames = set(admins.permissions.values_list("content_type__app_label", "codename"))

    assert {
        ("subscriptions", f"{action}_{model}")
        for model in ("subscriber", "subscriberevent", "suppressedaddress")
        for action in ("view", "add", "change", "delete")
    } <= codenames
    assert {c for c in codenames if c[0] == "guide"} == {
        ("guide", "view_guide"),
        ("guide", "view_version"),
        ("guide", "view_changelogentry"),
    }


def test_editors_have_no_permission_on_subscribers_their_history_or_the_suppression_list(db):
    editors = Group.objects.get(name="Editors")

    assert not editors.permissions.filter(
        content_type__app_label="subscriptions",
        content_type__model__in=["subscriber", "subscriberevent", "suppressedaddress"],
    ).exists()


def test_an_admins_member_sees_subscribers_on_the_admin_index(list_admin_client, people):
    response = list_admin_client.get("/admin/")

    assert response.status_code == 200
    assert "Subscribers" in text(response) and "Suppressed addresses" in text(response)


def test_an_editor_cannot_see_subscribers_anywhere_in_the_admin(editor_client, people):
    ann = people["ann"]
    # The app's index may list what Editors can see of it (mailings), never subscribers.
    listings = [editor_client.get("/admin/"), editor_client.get("/admin/subscriptions/")]
    pages = [
        editor_client.get(CHANGELIST_URL),
        editor_client.get(change_url(ann)),
        editor_client.get(f"{CHANGELIST_URL}export/"),
        editor_client.get(f"{CHANGELIST_URL}import/"),
        editor_client.get("/admin/subscriptions/suppressedaddress/"),
    ]

    for listing in listings:
        assert "Subscribers" not in text(listing) and "Suppressed addresses" not in text(listing)
    assert [page.status_code for page in pages] == [403, 403, 403, 403, 403]
    assert all(b"ann@example.org" not in page.content for page in [*listings, *pages])


def test_an_editor_cannot_run_a_subscriber_action(editor_client, people):
    response = editor_client.post(
        CHANGELIST_URL,
        {
            "action": "erase_selected",
            "post": "yes",
            helpers.ACTION_CHECKBOX_NAME: [people["ann"].pk],
        },
    )

    assert response.status_code == 403
    assert Subscriber.objects.filter(pk=people["ann"].pk).exists()


# --- The list -------------------------------------------------------------------------------------


def test_the_list_shows_address_status_cadence_guides_and_dates_with_counts(
    list_admin_client, people
):
    response = list_admin_client.get(CHANGELIST_URL)

    page = text(response)
    assert response.status_code == 200
    assert table_row(response, "ann@example.org")[:4] == [
        "ann@example.org", "Confirmed", "Minor and major releases", "mlmw"
    ]  # fmt: skip
    assert table_row(response, "bob@example.org")[:4] == [
        "bob@example.org", "Pending confirmation", "Every release", "mdtp, mlmw"
    ]  # fmt: skip
    assert table_row(response, "cy@example.org")[5] == "-"  # never confirmed
    assert "3 subscribers" in page
    # Each filter choice says how many subscribers it has (facets).
    # The counts behind each filter choice come when asked for ("Show counts"): at a million
    # subscribers each is a scan.
    assert "Pending confirmation (1)" not in page
    with_counts = text(list_admin_client.get(CHANGELIST_URL, {"_facets": "True"}))
    assert "Pending confirmation (1)" in with_counts and "Confirmed (1)" in with_counts
    assert "Machine learning deep dives (2)" in with_counts


def test_the_list_searches_by_address(list_admin_client, people):
    response = list_admin_client.get(CHANGELIST_URL, {"q": "BOB@example"})

    page = text(response)
    assert "bob@example.org" in page
    assert "ann@example.org" not in page and "cy@example.org" not in page
    assert "1 result (Show all)" in page


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({"status__exact": "unsubscribed"}, {"cy@example.org"}),
        ({"cadence__exact": "minor"}, {"ann@example.org"}),
        (
            {"created_at__gte": "2000-01-01 00:00:00+00:00"},
            {"ann@example.org", "bob@example.org", "cy@example.org"},
        ),
        ({"confirmed_at__isnull": "True"}, {"bob@example.org", "cy@example.org"}),
    ],
    ids=["status", "cadence", "created", "confirmed"],
)
def test_the_list_filters_by_status_cadence_and_dates(list_admin_client, people, query, shown):
    response = list_admin_client.get(CHANGELIST_URL, query)

    assert response.status_code == 200
    assert addresses_on(response) == shown


def test_the_list_filters_by_guide(list_admin_client, people):
    mdtp = Guide.objects.get(slug="mdtp")

    response = list_admin_client.get(CHANGELIST_URL, {"guides__id__exact": mdtp.pk})

    assert addresses_on(response) == {"bob@example.org", "cy@example.org"}


def addresses_on(response) -> set[str]:
    page = text(response)
    return {f"{name}@example.org" for name in ("ann", "bob", "cy") if f"{name}@example.org" in page}


def test_the_list_links_to_import_and_export_but_offers_no_add(list_admin_client, people):
    response = list_admin_client.get(CHANGELIST_URL, {"status__exact": "confirmed"})

    links = hrefs(response)
    assert f"{CHANGELIST_URL}import/" in links
    assert f"{CHANGELIST_URL}export/?status__exact=confirmed" in links
    assert f"{CHANGELIST_URL}add/" not in links
    assert list_admin_client.get(f"{CHANGELIST_URL}add/").status_code == 403


# --- One subscriber: history, consent, preferences ------------------------------------------------


def test_the_change_page_shows_the_history_newest_first_with_the_version_mailed(
    list_admin_client, people, v0_10_0
):
    ann = people["ann"]
    start = timezone.now() - timedelta(days=10)
    for days, kind, detail, version in [
        (0, "subscribed", "via form", None),
        (1, "confirmed", "from 192.0.2.1", None),
        (2, "mailed", "", v0_10_0),
        (3, "bounced", "mailbox full", None),
        (4, "unsubscribed", "admin", None),
    ]:
        SubscriberEvent.objects.create(
            subscriber=ann, kind=kind, detail=detail, version=version,
            created_at=start + timedelta(days=days),
        )  # fmt: skip

    response = list_admin_client.get(change_url(ann))

    page = text(response)
    history = page[page.index("Created at Kind Detail Version") :]  # the history inline
    order = [
        history.index(label)
        for label in ["Unsubscribed", "Bounced", "Mailed a version", "Confirmed", "Subscribed"]
    ]
    assert response.status_code == 200
    assert order == sorted(order)
    assert "mlmw 0.10.0" in history and "mailbox full" in history


def test_the_change_page_shows_consent_read_only_and_lets_only_cadence_and_guides_be_edited(
    list_admin_client, people
):
    ann = people["ann"]
    Subscriber.objects.filter(pk=ann.pk).update(
        consent_ip="192.0.2.1", consent_user_agent="Firefox/130", source="form"
    )

    response = list_admin_client.get(change_url(ann))

    form = page_form(response, change_url(ann))
    page = text(response)
    assert "192.0.2.1" in page and "Firefox/130" in page
    assert {"cadence", "guides"} <= set(form.names)
    assert not {"email", "status", "consent_ip", "consent_at", "source"} & set(form.names)
    assert not [href for href in hrefs(response) if href.endswith("/delete/")]


def test_editing_cadence_and_guides_in_the_admin_is_recorded_in_the_history(
    list_admin_client, people
):
    ann = people["ann"]
    response = list_admin_client.get(change_url(ann))
    mdtp = Guide.objects.get(slug="mdtp")
    data = page_form(response, change_url(ann)).data(cadence="major", guides=[str(mdtp.pk)])
    data["status"] = "unsubscribed"  # not a field of the form: ignored

    saved = list_admin_client.post(change_url(ann), data)

    ann.refresh_from_db()
    assert saved.status_code == 302
    assert (ann.cadence, ann.status) == ("major", "confirmed")
    assert {g.slug for g in ann.guides.all()} == {"mdtp"}
    assert ann.events.get().detail == "by ada in the admin: Major releases only; mdtp"


def test_unticking_every_guide_in_the_admin_means_all_guides_as_on_the_subscribers_own_page(
    list_admin_client, people, v0_9_0, v0_10_0
):
    ann, mdtp = people["ann"], Guide.objects.get(slug="mdtp")
    Baseline.objects.create(subscriber=ann, guide=v0_9_0.guide, version=v0_9_0)
    mdtp_1_0 = make_version(mdtp, "1.0.0", "# MDTP\n", published_at=timezone.now(), bump="major")
    page = list_admin_client.get(change_url(ann))
    assert "None ticked means all guides" in text(page)

    saved = list_admin_client.post(
        change_url(ann), page_form(page, change_url(ann)).data(guides=[])
    )

    assert saved.status_code == 302
    assert {g.slug for g in ann.guides.all()} == {"mlmw", "mdtp"}  # what release mail is sent for
    assert ann.events.get().detail == "by ada in the admin: Minor and major releases; mdtp, mlmw"
    # The guide gained starts at its live version; mlmw keeps the version ann was last mailed.
    assert {b.guide.slug: b.version for b in ann.baselines.all()} == {
        "mlmw": v0_9_0,
        "mdtp": mdtp_1_0,
    }


# --- Actions ----------------------------------------------------------------------------------------


def test_resending_confirmation_mails_only_pending_subscribers_a_new_link(
    list_admin_client, people, django_capture_on_commit_callbacks
):
    ann, bob, cy = people["ann"], people["bob"], people["cy"]

    with django_capture_on_commit_callbacks(execute=True):
        response = act(list_admin_client, "resend_confirmation", ann, bob, cy)

    bob.refresh_from_db()
    assert [m.to for m in mail.outbox] == [["bob@example.org"]]
    assert bob.confirm_nonce not in ("", "old-nonce")  # the old link no longer works
    assert (
        "Sent a new confirmation link to 1 pending subscriber(s). 2 not pending (confirmed, "
        "unsubscribed, …) got nothing." in text(response)
    )


def test_resending_twice_in_a_row_sends_one_mail(
    list_admin_client, people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        act(list_admin_client, "resend_confirmation", people["bob"])
        response = act(list_admin_client, "resend_confirmation", people["bob"])

    assert len(mail.outbox) == 1
    assert "1 had one sent in the last few minutes and got nothing new." in text(response)


def test_unsubscribing_from_the_admin_stops_mail_and_records_it(list_admin_client, people):
    ann, cy = people["ann"], people["cy"]

    response = act(list_admin_client, "unsubscribe", ann, cy)

    ann.refresh_from_db()
    assert ann.status == "unsubscribed" and ann.unsubscribed_at is not None
    assert list(ann.events.values_list("kind", "detail")) == [("unsubscribed", "admin")]
    assert "Unsubscribed 1 subscriber(s). 1 were already not receiving mail." in text(response)


def test_erasing_asks_first_and_erases_nothing_until_confirmed(list_admin_client, people):
    response = act(list_admin_client, "erase_selected", people["ann"], people["bob"])

    page = text(response)
    assert response.status_code == 200
    assert "Erase 2 subscribers?" in page
    assert "ann@example.org" in page and "bob@example.org" in page
    assert Subscriber.objects.count() == 3
    assert not SuppressedAddress.objects.exists()


def test_confirming_erasure_deletes_the_data_and_suppresses_the_address(list_admin_client, people):
    ann, bob = people["ann"], people["bob"]
    SubscriberEvent.objects.create(subscriber=ann, kind="confirmed")
    question = act(list_admin_client, "erase_selected", ann)

    form = page_form(question, CHANGELIST_URL)
    response = list_admin_client.post(form.action, form.data(), follow=True)

    assert "Erased 1 subscriber(s)" in text(response)
    assert not Subscriber.objects.filter(email_key="ann@example.org").exists()
    assert not SubscriberEvent.objects.filter(subscriber_id=ann.pk).exists()
    assert Subscriber.objects.filter(pk=bob.pk).exists()
    assert list(SuppressedAddress.objects.values_list("address_hash", flat=True)) == [
        addresses.suppression_hash("ann@example.org")
    ]


def test_erasing_every_subscriber_of_a_filtered_list_erases_just_those(list_admin_client, people):
    question = list_admin_client.post(
        f"{CHANGELIST_URL}?status__exact=confirmed",
        {
            "action": "erase_selected",
            "index": "0",
            "select_across": "1",
            helpers.ACTION_CHECKBOX_NAME: [str(people["ann"].pk)],
        },
    )
    form = page_form(question, CHANGELIST_URL)

    list_admin_client.post(f"{CHANGELIST_URL}?status__exact=confirmed", form.data())

    assert set(Subscriber.objects.values_list("email", flat=True)) == {
        "bob@example.org",
        "cy@example.org",
    }


def test_there_is_no_plain_delete_that_would_skip_suppression(list_admin_client, people):
    ann = people["ann"]
    changelist = list_admin_client.get(CHANGELIST_URL)
    delete = list_admin_client.post(f"{change_url(ann)[: -len('change/')]}delete/", {"post": "yes"})

    assert "delete_selected" not in changelist.content.decode()
    assert delete.status_code == 403
    assert Subscriber.objects.filter(pk=ann.pk).exists()


# --- The suppression list -------------------------------------------------------------------------


def test_the_suppression_list_is_read_only_and_searchable_by_address(list_admin_client, people):
    lifecycle.erase(people["ann"], how="test")
    lifecycle.erase(people["cy"], how="test")
    url = "/admin/subscriptions/suppressedaddress/"
    entry = SuppressedAddress.objects.get(
        address_hash=addresses.suppression_hash("ann@example.org")
    )

    found = list_admin_client.get(url, {"q": " ANN@example.org "})
    not_found = list_admin_client.get(url, {"q": "bob@example.org"})
    change = list_admin_client.get(f"{url}{entry.pk}/change/")

    assert entry.address_hash in text(found) and "1 result (2 total)" in text(found)
    assert "0 results (2 total)" in text(not_found)
    assert change.status_code == 200 and b'name="address_hash"' not in change.content
    assert list_admin_client.get(f"{url}add/").status_code == 403
    assert list_admin_client.post(f"{url}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SuppressedAddress.objects.count() == 2


def test_a_large_list_shows_the_databases_estimate_of_its_length(
    list_admin_client, people, monkeypatch
):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the estimate is PostgreSQL's planner's")
    from subscriptions import admin as subscriber_admin

    monkeypatch.setattr(subscriber_admin, "ESTIMATE_ABOVE", 0)  # three rows count as large here

    page = text(list_admin_client.get(CHANGELIST_URL))

    assert "about " in page.split("subscribers")[-2][-12:]


def test_a_small_list_is_counted_exactly(list_admin_client, people):
    page = text(list_admin_client.get(CHANGELIST_URL))

    assert "3 subscribers" in page
    assert "about 3" not in page
