"""Error pages as a visitor sees them with DEBUG off: the site's own page, a line that helps, the strict
Content-Security-Policy. The 500 page needs no database and no context processors."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import path

from mlmw.urls import urlpatterns as site_urlpatterns
from tests.csp import assert_strict
from tests.pages import links, text


@pytest.fixture(autouse=True)
def _production_mode(settings):
    settings.DEBUG = False


def broken_view(request):
    raise RuntimeError("a bug")


urlpatterns = [path("broken/", broken_view), *site_urlpatterns]


def assert_site_page(response) -> str:
    """The page is the site's (header and footer of base.html), under the strict policy."""
    page = text(response)
    assert page.startswith("Machine Learning My Way")
    assert "MLMW: a free, versioned collection of ML topics" in page
    assert ("Machine Learning My Way", "/") in links(response)
    assert_strict(response)
    return page


def test_a_missing_page_is_the_sites_not_found_page_with_a_way_back(client, db):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    page = assert_site_page(response)
    assert "Page not found" in page
    assert "the link may be mistyped or cut" in page
    assert ("the guides", "/") in links(response)


def test_a_request_for_another_host_is_the_sites_bad_request_page(client, db):
    response = client.get("/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    page = assert_site_page(response)
    assert "Bad request" in page
    assert "Go back and try again" in page


def test_a_forbidden_admin_page_is_the_sites_not_allowed_page(client, db):
    editor = User.objects.create_user("eve", "eve@mlmw.example", "eve-password", is_staff=True)
    client.force_login(editor)

    response = client.get("/admin/auth/user/")

    assert response.status_code == 403
    page = assert_site_page(response)
    assert "Not allowed" in page
    assert "sign in with an account that has the right" in page


def test_a_form_posted_without_its_csrf_cookie_says_to_reload_and_try_again(db):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/subscribe/", {"email": "ann@example.org"})

    assert response.status_code == 403
    page = assert_site_page(response)
    assert "This form expired" in page
    assert (
        "This form expired or cookies are blocked; go back, reload the page and try again." in page
    )
    assert "CSRF verification failed" not in page


# No `db` fixture: any query while the 500 page is rendered would fail the test.
def test_a_server_error_is_the_sites_page_rendered_without_the_database(settings):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)

    response = client.get("/broken/")

    assert response.status_code == 500
    page = assert_site_page(response)
    assert "Something went wrong" in page
    assert "Try again in a minute" in page
    assert "a bug" not in page and "RuntimeError" not in page


def test_pages_link_the_favicon_and_favicon_ico_leads_to_it(client, db):
    home = client.get("/subscribe/")
    redirect = client.get("/favicon.ico")
    icon = client.get(redirect["Location"])

    assert '<link rel="icon" href="/static/favicon.ico"' in home.content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in (
        home.content.decode()
    )
    assert redirect.status_code == 302 and redirect["Location"] == "/static/favicon.ico"
    assert icon.status_code == 200
    assert b"".join(icon.streaming_content).startswith(b"\x00\x00\x01\x00")  # an ICO file
