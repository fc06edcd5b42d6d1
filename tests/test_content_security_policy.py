"""A strict Content-Security-Policy header on every page: public pages, the admin, error pages.

No inline script anywhere and no inline style except what the policy names: one hashed <style> block
of Django's admin, and the release-mail preview, whose mail renders (with its inline CSS) in a
sandboxed srcdoc iframe that inherits the page's policy.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import django
import pytest
from django.conf import settings
from django.test import Client
from django.urls import path

from tests.csp import assert_strict

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/changelog/",
        "/guides/mlmw/",
        "/guides/mlmw/0.10.0/",
        "/guides/mlmw/compare/0.9.0...0.10.0/",
        "/subscribe/",
        "/feeds/releases.atom",
        "/guides/mlmw/badge.svg",
    ],
)
def test_public_pages_carry_the_strict_policy(client, v0_10_0, url):
    response = client.get(url)

    assert response.status_code == 200
    directives = assert_strict(response)
    assert directives["style-src"] == ["'self'", settings.ADMIN_CHANGELIST_STYLE_HASH]


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/guide/version/",
        "/admin/guide/version/add/",
        "/admin/subscriptions/subscriber/",
        "/admin/subscriptions/mailing/",
        "/admin/auth/user/",
    ],
)
def test_admin_pages_carry_the_strict_policy(client, superuser, draft, url):
    client.force_login(superuser)

    response = client.get(url)

    assert response.status_code == 200
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert_strict(response)


def test_the_admin_login_page_carries_the_strict_policy(client, db):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert_strict(response)


def test_the_release_mail_preview_allows_inline_styles_for_the_mail_and_nothing_else(
    client, superuser, draft
):
    client.force_login(superuser)

    response = client.get(f"/admin/guide/version/{draft.pk}/preview/")

    assert response.status_code == 200
    assert 'class="email-html"' in response.content.decode()
    directives = assert_strict(response)
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert directives["frame-src"] == ["'self'"]


# --- Error pages ----------------------------------------------------------------------------------


def broken_view(request):
    raise RuntimeError("a bug")


urlpatterns = [path("broken/", broken_view)]


def test_a_not_found_page_carries_the_policy(client, db):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert_strict(response)


def test_a_server_error_page_carries_the_policy(db, settings):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)

    response = client.get("/broken/")

    assert response.status_code == 500
    assert_strict(response)


def test_a_bad_host_and_a_csrf_failure_carry_the_policy(db):
    client = Client(enforce_csrf_checks=True)

    bad_host = client.get("/", HTTP_HOST="evil.example")
    csrf = client.post("/subscribe/", {"email": "a@example.org"})

    assert bad_host.status_code == 400
    assert csrf.status_code == 403
    assert_strict(bad_host)
    assert_strict(csrf)


# --- What the policy allows is all that the templates need ---------------------------------------


def test_the_hash_in_the_policy_is_the_style_block_of_the_installed_djangos_admin_change_list():
    """Django's change list writes one <style> block (lists without actions); a Django upgrade that
    changes it must fail here, not silently unstyle the admin."""
    template = Path(django.__file__).parent / "contrib/admin/templates/admin/change_list.html"
    blocks = re.findall(r"<style>(.*?)</style>", template.read_text(), re.S)

    assert len(blocks) == 1
    digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" == settings.ADMIN_CHANGELIST_STYLE_HASH


def test_no_page_template_has_inline_script_style_or_event_handlers():
    """Mail templates are exempt: mail is not a page (and its CSS is inlined on purpose)."""
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        if "emails" in template.relative_to(ROOT / "templates").parts:
            continue
        text = template.read_text()
        for pattern in (
            r"\sstyle=",
            r"<style",
            r"<script(?![^>]*\ssrc=)",
            r"\son[a-z]+=",
            "javascript:",
        ):
            if re.search(pattern, text):
                offenders.append(f"{template.relative_to(ROOT)}: {pattern}")
    assert offenders == []
