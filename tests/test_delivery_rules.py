"""Rules of the fan-out's bookkeeping that protect readers from repeats and endless retries."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from anymail.exceptions import AnymailRequestsAPIError
from django.utils import timezone

from subscriptions import audience, delivery, ledger, sending
from subscriptions.models import Baseline, Batch, Delivery, Mailing
from tests.conftest import ROOT, make_subscribers


def test_a_late_batch_of_an_older_mailing_does_not_move_a_baseline_backwards(
    guide, v0_9_0, v0_10_0
):
    (reader,) = make_subscribers(guide, "reader", 1, baseline=v0_10_0)

    # 0.9.0's mailing finishes after 0.10.0's was already recorded for this reader.
    ledger.move_baselines([reader.pk], guide.pk, v0_9_0.pk, timezone.now())

    assert Baseline.objects.get(subscriber=reader).version == v0_10_0


def test_a_newer_version_moves_the_baseline_forward_and_a_first_mail_creates_it(
    guide, v0_9_0, v0_10_0
):
    (known,) = make_subscribers(guide, "known", 1, baseline=v0_9_0)
    (new,) = make_subscribers(guide, "new", 1)

    ledger.move_baselines([known.pk, new.pk], guide.pk, v0_10_0.pk, timezone.now())

    assert Baseline.objects.get(subscriber=known).version == v0_10_0
    assert Baseline.objects.get(subscriber=new).version == v0_10_0


def test_a_batch_claimed_more_often_than_the_attempt_limit_is_failed_not_sent_again(
    guide, v0_9_0, v0_10_0, settings, mailoutbox
):
    settings.MAIL_BATCH_MAX_ATTEMPTS = 3
    make_subscribers(guide, "reader", 2, baseline=v0_9_0)
    mailing = Mailing.objects.create(version=v0_10_0)
    (batch_id,) = audience.start(mailing.pk)
    # Three workers died while sending it: each claim counted an attempt.
    Batch.objects.filter(pk=batch_id).update(attempts=3)

    assert delivery.send(batch_id) is None

    assert mailoutbox == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {"failed"}
    assert Delivery.objects.first().error == "gave up after 3 attempts"
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.DONE


def test_an_esp_refusal_quoting_an_address_is_stored_without_it():
    response = requests.Response()
    response.status_code, response.reason = 400, "BAD REQUEST"
    response._content = (
        b'{"message": "to parameter is not a valid address: ann.reader+x@example.org"}'
    )
    error = sending.classify(
        AnymailRequestsAPIError(
            "Mailgun API response 400", status_code=400, response=response, email_message=None
        )
    )

    assert error.permanent
    assert "example.org" not in str(error)
    assert "<address>" in str(error)


def test_a_requests_timeout_from_the_environment_reaches_anymail_as_a_number(tmp_path):
    code = "from django.conf import settings; print(repr(settings.ANYMAIL['REQUESTS_TIMEOUT']))"
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "mlmw.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "ANYMAIL_REQUESTS_TIMEOUT": "2.5",
    }
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.stdout.strip() == "2.5", result.stderr


def test_a_requests_timeout_that_is_not_a_number_stops_the_process_with_its_name(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "mlmw.settings",
        "DEBUG": "true",
        "ANYMAIL_REQUESTS_TIMEOUT": "soon",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode != 0
    assert "ANYMAIL_REQUESTS_TIMEOUT='soon' is not a number of seconds." in result.stderr


@pytest.fixture(autouse=True)
def _eager(db):
    """Sending here runs in-process with the locmem backend (test settings)."""
