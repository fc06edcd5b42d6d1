"""Only the ESPs this deployment uses have webhooks, and a body no ESP would send is a 400.

anymail knows 16 more ESPs; their URLs are 404 here, so a POST to one is no 500 with a traceback. A
body anymail cannot read (broken JSON, fields of the wrong type) is a 400 even with valid auth: a 500
would make the ESP retry it for days. Through anymail's real views, with the suite's ESP_WEBHOOKS
(postmark, mailgun).
"""

from __future__ import annotations

import json
from base64 import b64encode

import pytest
from django.conf import settings

from tests.settings_process import load_settings

AUTH = "Basic " + b64encode(settings.ANYMAIL["WEBHOOK_SECRET"].encode()).decode()

pytestmark = pytest.mark.django_db


def post(client, url: str, body: str):
    return client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=AUTH)


@pytest.mark.parametrize("esp", ["sendgrid", "brevo", "sparkpost", "amazon_ses", "resend"])
def test_the_webhooks_of_esps_not_in_use_are_not_found(client, esp):
    response = post(client, f"/anymail/{esp}/tracking/", json.dumps([{"event": "bounce"}]))

    assert response.status_code == 404


@pytest.mark.parametrize(
    "body", ["{not json", "[]", json.dumps({"RecordType": "Bounce", "Email": 1, "ID": []}), "\xff"]
)
def test_a_body_the_esp_would_never_send_is_a_bad_request_not_a_server_error(client, body):
    response = post(client, "/anymail/postmark/tracking/", body)

    assert response.status_code in (200, 400)  # read and ignored, or refused: never a 500
    if body == "{not json":
        assert response.status_code == 400


@pytest.mark.parametrize(
    "backend, esps",
    [
        ("anymail.backends.postmark.EmailBackend", ["postmark"]),
        ("subscriptions.esp.MailgunBatchBackend", ["mailgun"]),
        ("django.core.mail.backends.smtp.EmailBackend", []),
    ],
)
def test_by_default_only_the_esp_that_sends_the_mail_has_webhooks(backend, esps):
    result = load_settings({"DEBUG": "true", "EMAIL_BACKEND": backend}, "settings.ESP_WEBHOOKS")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == esps
