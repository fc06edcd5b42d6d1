"""The preferences page behind the signed link in the subscriber's mail.

It shows and changes the guides and cadence, exports everything held as JSON, and erases the
subscriber, keeping only a keyed hash of the address on the suppression list.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.test import Client

from subscriptions.addresses import suppression_hash
from subscriptions.models import Subscriber, SubscriberEvent, SuppressedAddress
from tests.forms import page_form, page_forms
from tests.mails import mailed_path
from tests.pages import links, text

Kind = SubscriberEvent.Kind
ADDRESS = "ann@example.org"
CONSENT_IP = "203.0.113.50"
CONSENT_UA = "Mozilla/5.0 manage-test"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True, REMOTE_ADDR=CONSENT_IP, HTTP_USER_AGENT=CONSENT_UA)


@pytest.fixture
def subscribed(guide, mdtp, client, post_committed, mailoutbox, settings):
    """ADDRESS subscribed to the mlmw guide, minor releases, and confirmed."""
    settings.CONFIRMATION_RESEND_SECONDS = 0
    post_committed(
        client,
        "/subscribe/",
        {"email": ADDRESS, "guides": [guide.pk], "cadence": "minor", "source": "home"},
        follow=True,
    )
    post_committed(
        client,
        mailed_path(mailoutbox[-1].body, "/confirm/"),
        REMOTE_ADDR=CONSENT_IP,
        HTTP_USER_AGENT=CONSENT_UA,
        follow=True,
    )
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    return subscriber


@pytest.fixture
def mail(subscribed, client, post_committed, mailoutbox):
    """A mail to the confirmed subscriber: the note sent when someone subscribes the address again."""
    post_committed(client, "/subscribe/", {"email": ADDRESS}, follow=True)
    message = mailoutbox[-1]
    assert message.to == [ADDRESS]
    assert message.subject == "You are already subscribed to MLMW guide updates"
    return message


@pytest.fixture
def manage_path(mail) -> str:
    path = mailed_path(mail.body, "/manage/")
    [(html, _)] = mail.alternatives
    assert mailed_path(html, "/manage/") == path
    return path


def unsubscribe_path(mail) -> str:
    return mailed_path(mail.body, "/unsubscribe/")


def tampered(path: str) -> str:
    token = path.split("/")[2]
    i = token.index(":") + 3
    bad = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    return path.replace(token, bad)


def snapshot() -> list[tuple]:
    return [
        (s.email, s.status, s.cadence, sorted(s.guides.values_list("slug", flat=True)))
        for s in Subscriber.objects.all()
    ]


def test_the_manage_link_from_a_mail_shows_the_current_preferences(manage_path, browser, guide):
    page = browser.get(manage_path)

    assert page.status_code == 200
    assert "Address: ann@example.org · status: confirmed" in text(page)
    form = page_form(page, manage_path)
    assert form.fields["cadence"] == ["minor"]
    assert form.fields["guides"] == [str(guide.pk)]
    assert "csrfmiddlewaretoken" in form.fields


def test_saving_the_form_changes_guides_and_cadence_and_records_the_change(
    manage_path, browser, guide, mdtp
):
    form = page_form(browser.get(manage_path), manage_path)

    saved = browser.post(
        form.action, form.data(guides=[str(mdtp.pk)], cadence=["major"]), follow=True
    )

    assert saved.redirect_chain == [(manage_path + "?saved=1", 303)]
    assert saved.status_code == 200
    assert "Your preferences are saved." in text(saved)
    subscriber = Subscriber.objects.get()
    assert subscriber.cadence == "major"
    assert list(subscriber.guides.all()) == [mdtp]
    assert subscriber.status == Subscriber.Status.CONFIRMED
    event = subscriber.events.get(kind=Kind.PREFERENCES)
    assert event.detail == "Major releases only; mdtp"
    # The page shows what is now stored.
    assert page_form(saved, manage_path).fields["cadence"] == ["major"]
    assert page_form(saved, manage_path).fields["guides"] == [str(mdtp.pk)]


def test_saving_with_no_guide_ticked_means_every_guide_as_on_the_subscribe_form(
    manage_path, browser, guide, mdtp
):
    form = page_form(browser.get(manage_path), manage_path)

    saved = browser.post(form.action, form.data(guides=[], cadence=["every"]), follow=True)

    assert "Your preferences are saved." in text(saved)
    assert set(Subscriber.objects.get().guides.all()) == {guide, mdtp}


def test_saving_without_the_csrf_token_is_refused(manage_path, browser):
    before = snapshot()

    refused = browser.post(manage_path, {"cadence": "major"}, follow=True)

    assert refused.status_code == 403
    assert snapshot() == before
    assert not SubscriberEvent.objects.filter(kind=Kind.PREFERENCES).exists()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"cadence": ["fortnightly"]},
            "Select a valid choice. fortnightly is not one of the available",
        ),
        ({"cadence": []}, "This field is required."),
        ({"guides": ["999999"]}, "Select a valid choice. 999999 is not one of the available"),
    ],
    ids=["unknown cadence", "no cadence", "unknown guide"],
)
def test_a_bad_choice_answers_400_with_the_error_and_changes_nothing(
    change, error, manage_path, browser
):
    form = page_form(browser.get(manage_path), manage_path)
    before = snapshot()

    refused = browser.post(form.action, form.data(**change), follow=True)

    assert refused.status_code == 400
    assert error in text(refused)
    assert "Your preferences are saved." not in text(refused)
    assert snapshot() == before
    assert not SubscriberEvent.objects.filter(kind=Kind.PREFERENCES).exists()


def test_the_export_has_the_address_consent_and_history_as_a_private_download(
    manage_path, browser, guide
):
    page = browser.get(manage_path)
    [export_href] = [href for label, href in links(page) if "(JSON)" in label]

    response = browser.get(export_href)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="mlmw-subscription.json"'
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    subscriber = Subscriber.objects.get()
    assert data["email"] == ADDRESS
    assert (data["status"], data["cadence"], data["guides"]) == ("confirmed", "minor", ["mlmw"])
    assert data["consent"] == {
        "at": subscriber.consent_at.isoformat(),
        "ip": CONSENT_IP,
        "user_agent": CONSENT_UA,
        "source": "home",
    }
    assert sorted(entry["event"] for entry in data["history"]) == sorted(
        [Kind.SUBSCRIBED, Kind.CONFIRMATION_SENT, Kind.CONFIRMED]
    )


def test_erasing_removes_the_subscriber_and_history_and_keeps_only_a_keyed_hash(
    manage_path, browser
):
    page = browser.get(manage_path)
    erase = page_form(page, manage_path + "erase/")
    assert "confirm" in erase.names

    response = browser.post(erase.action, erase.data(confirm=["yes"]), follow=True)

    assert response.status_code == 200
    assert "Your data is erased" in text(response)
    assert Subscriber.objects.count() == 0
    assert SubscriberEvent.objects.count() == 0
    [suppressed] = SuppressedAddress.objects.all()
    assert suppressed.address_hash == suppression_hash(ADDRESS)
    assert len(suppressed.address_hash) == 64
    assert "ann" not in suppressed.address_hash and "example" not in suppressed.address_hash
    assert suppressed.address_hash != hashlib.sha256(ADDRESS.encode()).hexdigest()  # keyed


def test_erasing_without_ticking_the_box_erases_nothing(manage_path, browser):
    erase = page_form(browser.get(manage_path), manage_path + "erase/")
    before = snapshot()

    refused = browser.post(erase.action, erase.data(), follow=True)

    assert refused.status_code == 400
    page = text(refused)
    assert "Your subscription Address: ann@example.org" in page  # the page, not a bare line
    assert "Tick the box to confirm erasure. Erase my address and history for good" in page
    assert "confirm" in page_form(refused, manage_path + "erase/").names
    assert (
        "cadence" in page_form(refused, manage_path).names
    )  # preferences still save to their page
    assert snapshot() == before
    assert not SuppressedAddress.objects.exists()


def test_opening_the_erase_address_leads_to_the_erase_form_and_erases_nothing(manage_path, browser):
    before = snapshot()

    response = browser.get(manage_path + "erase/", follow=True)

    assert response.redirect_chain == [(manage_path + "#erase", 302)]
    assert response.status_code == 200
    assert "Erase my address and history for good" in text(response)
    assert snapshot() == before


def test_after_erasure_the_old_links_say_the_subscription_is_gone_and_change_nothing(
    manage_path, mail, browser
):
    erase = page_form(browser.get(manage_path), manage_path + "erase/")
    browser.post(erase.action, erase.data(confirm=["yes"]), follow=True)
    one_click = unsubscribe_path(mail)

    manage = browser.get(manage_path)
    export = browser.get(manage_path + "export.json")
    save = Client().post(manage_path, {"cadence": "major"})
    erase_again = Client().post(manage_path + "erase/", {"confirm": "yes"})
    unsubscribe_page = Client().get(one_click)
    unsubscribed = Client(enforce_csrf_checks=True).post(
        one_click, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    for response in (manage, export, save, erase_again, unsubscribe_page):
        assert response.status_code == 410
        page = text(response)
        assert "There is no subscription for this link any more" in page
        assert "it may have been erased at its owner's request, or removed" in page
        assert "not valid" not in page
        assert ADDRESS not in response.content.decode()
    # RFC 8058: a mail client's one-click POST still gets its plain 200.
    assert unsubscribed.status_code == 200
    assert "You are unsubscribed" in text(unsubscribed)
    assert Subscriber.objects.count() == 0
    assert SuppressedAddress.objects.count() == 1


def test_subscribing_again_after_erasure_needs_a_fresh_confirmation_which_lifts_the_suppression(
    manage_path, browser, client, post_committed, mailoutbox
):
    old_uid = Subscriber.objects.get().uid
    erase = page_form(browser.get(manage_path), manage_path + "erase/")
    browser.post(erase.action, erase.data(confirm=["yes"]), follow=True)
    mailoutbox.clear()

    answer = post_committed(client, "/subscribe/", {"email": ADDRESS}, follow=True)

    assert "Check your inbox" in text(answer)
    subscriber = Subscriber.objects.get()
    assert subscriber.uid != old_uid
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.consent_at is None and subscriber.consent_ip is None
    assert list(subscriber.events.values_list("kind", flat=True)) == [
        Kind.CONFIRMATION_SENT,
        Kind.SUBSCRIBED,
    ]
    assert SuppressedAddress.objects.count() == 1  # until the address is confirmed again
    [confirmation] = mailoutbox
    assert confirmation.subject == "Confirm your subscription to MLMW guide updates"
    assert browser.get(manage_path).status_code == 410  # the old link names the erased subscriber

    confirmed = post_committed(client, mailed_path(confirmation.body, "/confirm/"), follow=True)

    assert "You are subscribed" in text(confirmed)
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED
    assert not SuppressedAddress.objects.exists()


def test_a_tampered_manage_token_shows_the_not_valid_page_and_changes_nothing(manage_path, browser):
    bad = tampered(manage_path)
    assert bad != manage_path
    before = snapshot()

    page = browser.get(bad)
    export = browser.get(bad + "export.json")
    erase = Client().post(bad + "erase/", {"confirm": "yes"})
    save = Client().post(bad, {"cadence": "major"})

    for response in (page, export, erase, save):
        assert response.status_code == 400
        assert "This link is not valid" in text(response)
        assert ADDRESS not in response.content.decode()
    assert snapshot() == before
    assert not SuppressedAddress.objects.exists()
    assert not SubscriberEvent.objects.filter(kind=Kind.PREFERENCES).exists()


def test_the_unsubscribe_button_on_the_manage_page_unsubscribes(manage_path, browser):
    page = browser.get(manage_path)
    [form] = [f for f in page_forms(page) if f.action.startswith("/unsubscribe/")]
    assert "csrfmiddlewaretoken" not in form.fields  # one-click needs none

    response = Client(enforce_csrf_checks=True).post(form.action, form.data(), follow=True)

    assert response.redirect_chain == [(form.action, 303)]  # a reload shows, never re-sends
    assert response.status_code == 200
    assert "You are unsubscribed" in text(response)
    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED


def test_the_gone_page_offers_the_subscribe_form_which_asks_for_confirmation_again(
    manage_path, browser, client, post_committed, mailoutbox
):
    erase = page_form(browser.get(manage_path), manage_path + "erase/")
    browser.post(erase.action, erase.data(confirm=["yes"]), follow=True)
    mailoutbox.clear()
    gone = browser.get(manage_path)
    form = page_form(gone, "/subscribe/")
    assert form.fields["email"] == [""]  # nothing of the erased subscriber is filled in

    answer = post_committed(browser, form.action, form.data(email=[ADDRESS]), follow=True)

    assert "Check your inbox" in text(answer)
    subscriber = Subscriber.objects.get()
    assert (subscriber.status, subscriber.source) == (Subscriber.Status.PENDING, "old-link")
    [confirmation] = mailoutbox
    assert confirmation.subject == "Confirm your subscription to MLMW guide updates"


# --- An address that receives nothing (unsubscribed, bounced, complained) ---------------------------


@pytest.fixture
def unsubscribed(manage_path, browser) -> str:
    page = browser.get(manage_path)
    [form] = [f for f in page_forms(page) if f.action.startswith("/unsubscribe/")]
    Client(enforce_csrf_checks=True).post(form.action, form.data())
    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED
    return manage_path


def test_an_unsubscribed_address_gets_subscribe_again_instead_of_save_preferences(
    unsubscribed, browser, guide
):
    page = browser.get(unsubscribed)

    assert page.status_code == 200
    assert "Address: ann@example.org · status: unsubscribed" in text(page)
    assert "You receive no updates at this address." in text(page)
    assert "Save preferences" not in text(page)
    assert "Subscribe again" in text(page)
    form = page_form(page, "/subscribe/")
    assert form.fields["email"] == [ADDRESS]
    assert form.fields["guides"] == [str(guide.pk)]
    assert form.fields["cadence"] == ["minor"]
    assert [f.action for f in page_forms(page) if f.action == unsubscribed] == []


def test_subscribing_again_from_the_preferences_page_needs_a_fresh_confirmation(
    unsubscribed, browser, client, post_committed, mailoutbox
):
    form = page_form(browser.get(unsubscribed), "/subscribe/")
    mailoutbox.clear()

    answer = post_committed(browser, form.action, form.data(cadence=["major"]), follow=True)

    assert "Check your inbox" in text(answer)
    subscriber = Subscriber.objects.get()
    assert (subscriber.status, subscriber.cadence) == (Subscriber.Status.PENDING, "major")
    [confirmation] = mailoutbox
    assert confirmation.to == [ADDRESS]
    assert confirmation.subject == "Confirm your subscription to MLMW guide updates"

    confirmed = post_committed(client, mailed_path(confirmation.body, "/confirm/"), follow=True)

    assert "You are subscribed" in text(confirmed)
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED


def test_a_preferences_form_from_an_older_page_saves_nothing_once_unsubscribed(
    manage_path, browser
):
    form = page_form(browser.get(manage_path), manage_path)  # shown while still confirmed
    page = browser.get(manage_path)
    [unsubscribe] = [f for f in page_forms(page) if f.action.startswith("/unsubscribe/")]
    Client(enforce_csrf_checks=True).post(unsubscribe.action, unsubscribe.data())
    before = snapshot()

    refused = browser.post(form.action, form.data(cadence=["major"]), follow=True)

    assert refused.status_code == 400
    assert "Nothing was saved: this address receives no updates" in text(refused)
    assert snapshot() == before
    assert not SubscriberEvent.objects.filter(kind=Kind.PREFERENCES).exists()
