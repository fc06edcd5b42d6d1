"""`manage.py check --deploy` passes with a production-like environment."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def deploy_check(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL", "SECURE_")
        )
        and key not in {"DATABASE_URL", "CSRF_TRUSTED_ORIGINS", "TRUST_X_FORWARDED_PROTO"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mlmw.settings",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "mlmw.example",
            "SITE_URL": "https://mlmw.example",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "ANYMAIL_WEBHOOK_SECRET": "hook:" + secrets.token_urlsafe(20),
            "SUPPRESSION_KEY": secrets.token_urlsafe(32),
            **extra,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_deploy_check_passes_with_production_settings(tmp_path):
    result = deploy_check(tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_turning_hsts_for_subdomains_off_is_reported_by_the_deploy_check(tmp_path):
    """The opt-out exists for sites sharing a domain with plain-HTTP hosts, and is not silent."""
    result = deploy_check(tmp_path, SECURE_HSTS_INCLUDE_SUBDOMAINS="false")

    assert result.returncode != 0
    assert "security.W005" in result.stderr


def test_explicit_hsts_settings_are_honoured_by_the_deploy_check(tmp_path):
    result = deploy_check(
        tmp_path, SECURE_HSTS_INCLUDE_SUBDOMAINS="true", SECURE_HSTS_PRELOAD="true"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_the_deploy_check_warns_about_plain_http_site_url(tmp_path):
    result = deploy_check(tmp_path, SITE_URL="http://mlmw.example")

    assert result.returncode != 0
    assert "mlmw.W001" in result.stderr and "RFC 8058" in result.stderr


def test_the_deploy_check_warns_without_a_webhook_secret_or_a_suppression_key(tmp_path):
    result = deploy_check(tmp_path, ANYMAIL_WEBHOOK_SECRET="", SUPPRESSION_KEY="")

    assert result.returncode != 0
    assert "mlmw.W002" in result.stderr
    assert "mlmw.W003" in result.stderr
