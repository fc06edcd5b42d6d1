"""A mailed link confirms exactly what its mail named, and its page says what pressing it does.

Anyone may type an address into the subscribe or access-request form. So a later submission for the
same address within the resend window changes nothing (no new mail, no new choices), and one after it
sends a new mail whose link voids the old one: the owner's click never confirms choices they did not
read. The confirm and verify pages and mails name the address, the guides, the cadence (with a
digest's day, hour and time zone), the kinds and sections chosen and, for an access request, the
subscription that verifying also creates.
"""

from __future__ import annotations

import pytest
from django.test import Client

from access.models import AccessRequest
from subscriptions.models import Subscriber
from tests.conftest import make_artifact
from tests.forms import page_form
from tests.mails import mailed_path
from tests.pages import text

ADDRESS = "ann@example.org"


@pytest.fixture(autouse=True)
def _empty_cache(clear_cache):
    """Rate-limit counters of other tests must not count here."""


def subscribe(post_committed, guides, cadence: str) -> None:
    data = {"email": ADDRESS, "guides": [str(g.pk) for g in guides], "cadence": cadence}
    answer = post_committed(Client(), "/subscribe/", data, follow=True)
    assert "Check your inbox" in text(answer)


def press(post_committed, path: str):
    owner = Client(REMOTE_ADDR="198.51.100.7")
    page = owner.get(path)
    form = page_form(page, path)
    return post_committed(owner, form.action, form.data(), follow=True)


def test_a_second_subscribe_in_the_resend_window_leaves_the_mailed_choices_in_force(
    guide, mdtp, post_committed, mailoutbox
):
    subscribe(post_committed, [mdtp], "major")
    link = mailed_path(mailoutbox[-1].body, "/confirm/")

    subscribe(post_committed, [guide, mdtp], "every")  # someone else, a minute later

    assert len(mailoutbox) == 1
    press(post_committed, link)
    subscriber = Subscriber.objects.get(email_key=ADDRESS)
    assert subscriber.status == "confirmed"
    assert list(subscriber.guides.values_list("slug", flat=True)) == ["mdtp"]
    assert subscriber.cadence == "major"


def test_a_subscribe_after_the_resend_window_mails_a_new_link_and_voids_the_old_one(
    guide, mdtp, post_committed, mailoutbox, settings
):
    settings.CONFIRMATION_RESEND_SECONDS = 0
    subscribe(post_committed, [mdtp], "major")
    old_link = mailed_path(mailoutbox[-1].body, "/confirm/")

    subscribe(post_committed, [guide, mdtp], "every")

    assert len(mailoutbox) == 2
    assert "How often: Every release" in mailoutbox[-1].body
    assert Client().get(old_link).status_code == 410
    assert Subscriber.objects.get(email_key=ADDRESS).status == "pending"


def test_the_confirm_mail_and_page_name_the_address_guides_and_cadence(
    guide, mdtp, post_committed, mailoutbox
):
    subscribe(post_committed, [mdtp], "major")
    mail = mailoutbox[-1]
    for body in (mail.body, mail.alternatives[0][0]):
        assert ADDRESS in body
        assert "Guides: MDTP topic list" in body
        assert "How often: Major releases only" in body
        assert "The MLMW guide" not in body

    page = text(Client().get(mailed_path(mail.body, "/confirm/")))
    assert f"Pressing the button subscribes {ADDRESS} to:" in page
    assert "Guides: MDTP topic list" in page
    assert "How often: Major releases only" in page


def test_the_confirm_mail_and_page_name_the_digest_and_the_filters_too(
    v0_10_0, post_committed, mailoutbox
):
    choices = {
        "email": ADDRESS, "cadence": "daily", "digest_hour": "6", "time_zone": "Asia/Tokyo",
        "kinds": ["security"], "sections_mlmw": ["interviews"],
    }  # fmt: skip
    post_committed(Client(), "/subscribe/", choices)
    mail = mailoutbox[-1]
    page = text(Client().get(mailed_path(mail.body, "/confirm/")))

    for body in (mail.body, " ".join(mail.alternatives[0][0].split()), page):
        assert "How often: A daily digest at 06:00 (Asia/Tokyo)" in body
        assert "Kinds of change: Security only" in body
        assert "Sections of The MLMW guide: Interviews" in body


def request_access(post_committed, artifact, **choices) -> None:
    data = {"email": ADDRESS, "name": "Ann", **{k: "on" for k, v in choices.items() if v}}
    answer = post_committed(Client(), artifact.get_request_url(), data, follow=True)
    assert "Check your inbox" in text(answer)


def test_a_second_access_request_in_the_resend_window_does_not_subscribe_the_owner(
    guide, media_root, post_committed, mailoutbox
):
    artifact = make_artifact(guide)
    request_access(post_committed, artifact)
    link = mailed_path(mailoutbox[-1].body, "/access/verify/")

    request_access(post_committed, artifact, want_updates=True, want_revisions=True)

    assert len(mailoutbox) == 1
    press(post_committed, link)
    request = AccessRequest.objects.get()
    assert request.status == "pending"
    assert (request.want_updates, request.want_revisions) == (False, False)
    assert not Subscriber.objects.exists()


def test_the_verify_mail_and_page_say_that_verifying_also_subscribes(
    guide, media_root, post_committed, mailoutbox
):
    artifact = make_artifact(guide)
    request_access(post_committed, artifact, want_updates=True)
    mail = mailoutbox[-1]
    for body in (mail.body, mail.alternatives[0][0]):
        assert ADDRESS in body
        assert "you will also get guide updates" in " ".join(body.split())

    page = text(Client().get(mailed_path(mail.body, "/access/verify/")))
    assert f"confirms that {ADDRESS} is yours" in page
    assert "subscribes this address to updates of The MLMW guide" in page
    assert "you will also get guide updates" in page


def test_the_verify_page_promises_no_subscription_when_none_was_asked(
    guide, media_root, post_committed, mailoutbox
):
    artifact = make_artifact(guide)
    request_access(post_committed, artifact)
    mail = mailoutbox[-1]
    assert "guide updates" not in mail.body

    page = text(Client().get(mailed_path(mail.body, "/access/verify/")))
    assert "guide updates" not in page
