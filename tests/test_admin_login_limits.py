"""Failed admin sign-ins are limited per (username, client IP) and per client IP, with a clear message.

Counters live in the Django cache (cleared around each test); the limits here are small settings.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.settings_process import load_settings

LOGIN = "/admin/login/"
HERE = "198.51.100.7"
ELSEWHERE = "203.0.113.9"


@pytest.fixture(autouse=True)
def small_limits(settings, clear_cache):
    settings.ADMIN_LOGIN_RATE_PER_USERNAME = "3/15m"
    settings.ADMIN_LOGIN_RATE_PER_IP = "5/h"


def sign_in(client, username: str, password: str, ip: str = HERE):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, username: str, times: int, ip: str = HERE) -> None:
    for _ in range(times):
        response = sign_in(client, username, "wrong-password", ip)
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()


def test_after_too_many_failures_for_a_username_even_the_right_password_is_refused(
    client, superuser
):
    fail(client, "root", 3)

    response = sign_in(client, "root", "root-password")

    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-in attempts for this account or from your network." in page
    # The counting window is fixed, so the wait is what is left of it: at most 15 minutes.
    wait = int(response["Retry-After"])
    assert 0 < wait <= 15 * 60
    minutes = (wait + 59) // 60
    assert f"Try again in {minutes} minute{'' if minutes == 1 else 's'}." in page
    assert 'class="errornote"' in page and 'name="password"' in page
    assert not signed_in(client)


@pytest.mark.parametrize("spelling", [" ROOT ", "ｒｏｏｔ", "𝐫𝐨𝐨𝐭", "Root"])
def test_the_username_limit_counts_every_spelling_the_login_form_reads_as_the_same_account(
    client, superuser, spelling
):
    fail(client, "root", 2)
    fail(client, spelling, 1)

    response = sign_in(client, "root", "root-password")

    assert response.status_code == 429
    assert not signed_in(client)


def test_failures_from_another_network_never_refuse_the_owners_right_password(client, superuser):
    fail(Client(), "root", 3, ip=ELSEWHERE)

    response = sign_in(client, "root", "root-password", ip=HERE)

    assert response.status_code == 302
    assert signed_in(client)


def test_the_address_limit_holds_across_usernames(client, superuser, editor):
    for name in ["anna", "bob", "carl", "dora", "emil"]:
        fail(client, name, 1)

    refused = sign_in(client, "edna", "edna-password")
    elsewhere = sign_in(Client(), "edna", "edna-password", ip=ELSEWHERE)

    assert refused.status_code == 429 and not signed_in(client)
    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/admin/"


def test_another_account_from_another_address_is_not_affected(client, superuser, editor):
    fail(client, "root", 3)

    response = sign_in(client, "edna", "edna-password", ip=ELSEWHERE)

    assert response.status_code == 302
    assert signed_in(client)


def test_successful_sign_ins_do_not_count(client, superuser):
    for _ in range(6):
        response = sign_in(client, "root", "root-password")
        assert response.status_code == 302
        client.logout()

    fail(client, "root", 2)
    assert sign_in(client, "root", "root-password").status_code == 302


def test_the_login_page_is_still_shown_while_an_account_is_limited(client, superuser):
    fail(client, "root", 3)

    response = client.get(LOGIN, REMOTE_ADDR=HERE)

    assert response.status_code == 200 and 'name="password"' in response.content.decode()


def test_the_limited_login_still_requires_the_csrf_token(superuser):
    client = Client(enforce_csrf_checks=True)

    response = sign_in(client, "root", "root-password")

    assert response.status_code == 403
    assert not signed_in(client)


@pytest.mark.parametrize("value", ["five", "5", "5/15x", "0/h", "-1/m"])
def test_a_login_rate_that_is_not_a_rate_stops_the_process_naming_it(value):
    result = load_settings({"DEBUG": "true", "ADMIN_LOGIN_RATE_PER_USERNAME": value})

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: "
        f"ADMIN_LOGIN_RATE_PER_USERNAME={value!r} is not a rate: use count/period, e.g. 5/15m "
        "(period s, m, h or d)."
    )
