"""The admin lives under ADMIN_PATH; moved, nothing answers at /admin/ any more."""

from __future__ import annotations

import importlib
import json

import pytest
from django.conf import settings as live_settings
from django.urls import clear_url_caches, reverse

import mlmw.urls
from tests.settings_process import load_settings


@pytest.fixture
def admin_at(settings):
    """move(path): serve the admin under `path`, as ADMIN_PATH=path would at start-up."""
    original = live_settings.ADMIN_PATH

    def move(path: str) -> None:
        settings.ADMIN_PATH = path
        importlib.reload(mlmw.urls)  # the URLconf reads ADMIN_PATH when it is imported
        clear_url_caches()

    yield move
    settings.ADMIN_PATH = original
    importlib.reload(mlmw.urls)
    clear_url_caches()


def test_the_admin_is_served_under_its_configured_path(client, superuser, admin_at):
    admin_at("staff-4f2a")
    client.force_login(superuser)

    index = client.get("/staff-4f2a/")
    login_page = client.get("/staff-4f2a/login/")

    assert (
        index.status_code == 200 and "Guides, subscribers and deliveries" in index.content.decode()
    )
    assert login_page.status_code == 302  # already signed in: the login page sends you on
    assert reverse("admin:index") == "/staff-4f2a/"
    assert reverse("admin:guide_version_changelist") == "/staff-4f2a/guide/version/"


@pytest.mark.parametrize("old", ["/admin/", "/admin/login/", "/admin/guide/version/"])
def test_once_moved_the_default_admin_path_is_not_found(client, superuser, admin_at, old):
    admin_at("ops/console")
    client.force_login(superuser)

    response = client.get(old)

    assert response.status_code == 404
    assert client.get("/ops/console/").status_code == 200


def test_a_signed_out_visitor_is_sent_to_the_login_page_under_the_moved_path(client, db, admin_at):
    admin_at("staff-4f2a")

    response = client.get("/staff-4f2a/guide/version/")
    login_page = client.get(response["Location"])

    assert response.status_code == 302
    assert response["Location"].startswith("/staff-4f2a/login/?next=")
    assert login_page.status_code == 200 and 'name="password"' in login_page.content.decode()


def test_slashes_around_admin_path_are_ignored():
    result = load_settings({"DEBUG": "true", "ADMIN_PATH": "/staff-4f2a/"}, "settings.ADMIN_PATH")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "staff-4f2a"


@pytest.mark.parametrize("value", ["/", "../etc", "staff 1", "staff//x", "st<aff"])
def test_an_admin_path_that_is_not_a_plain_url_path_stops_the_process(value):
    result = load_settings({"DEBUG": "true", "ADMIN_PATH": value})

    assert result.returncode != 0
    assert "ADMIN_PATH=" in result.stderr.strip().splitlines()[-1]
