"""`manage.py check --deploy` passes with a production-like environment."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def clean_environment() -> dict[str, str]:
    """This process's environment without any of mlmw's settings (the suite's own included)."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL", "SECURE_", "ANYMAIL_")
        )
        and key
        not in {
            "DATABASE_URL", "CSRF_TRUSTED_ORIGINS", "TRUST_X_FORWARDED_PROTO", "SUPPRESSION_KEY",
            "CELERY_BROKER_URL", "CACHE_URL", "EMAIL_BACKEND", "ADMIN_PATH", "LOG_FORMAT",
            "DEFAULT_FROM_EMAIL", "LIST_ID", "REPLY_TO",
        }
    }  # fmt: skip


def run_in(env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def deploy_check(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    env = clean_environment()
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
            "DEFAULT_FROM_EMAIL": "MLMW guide <updates@mlmw.org>",
            "LIST_ID": "MLMW guide updates <updates.mlmw.org>",
            **extra,
        }
    )
    return run_in(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")


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


def write_secret(directory: Path, name: str, value: str) -> str:
    path = directory / name
    path.write_text(value + "\n")  # as `echo … > file` writes it
    path.chmod(0o400)
    return str(path)


def test_the_deploy_check_passes_with_the_production_shape_of_docker_compose(tmp_path):
    """The environment docker-compose.yml gives the app, with the production overrides the README
    names (HTTPS site behind a TLS proxy, an ESP), secrets as Docker secret files (NAME_FILE)."""
    secrets_dir = tmp_path / "run-secrets"
    secrets_dir.mkdir()
    secret_key = secrets.token_urlsafe(50)
    env = clean_environment()
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mlmw.settings",
            "DEBUG": "false",
            "SECRET_KEY_FILE": write_secret(secrets_dir, "secret_key", secret_key),
            "SUPPRESSION_KEY_FILE": write_secret(secrets_dir, "suppression", "s" * 43),
            "SECRET_KEY_FALLBACKS": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "mlmw.example",
            "CSRF_TRUSTED_ORIGINS": "https://mlmw.example",
            "SITE_URL": "https://mlmw.example",
            "ADMIN_PATH": "staff-4f2a",
            "SECURE_SSL_REDIRECT": "true",
            "TRUST_X_FORWARDED_PROTO": "true",
            "TRUSTED_PROXY_COUNT": "1",
            "DATABASE_URL": "postgres://mlmw@db:5432/mlmw",
            "DATABASE_PASSWORD_FILE": write_secret(secrets_dir, "postgres_password", "pg-pass"),
            "CELERY_BROKER_URL": "redis://redis:6379/0",
            "CACHE_URL": "redis://redis:6379/1",
            "LOG_FORMAT": "json",
            "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "ANYMAIL_POSTMARK_SERVER_TOKEN_FILE": write_secret(secrets_dir, "postmark", "pm-token"),
            "ANYMAIL_WEBHOOK_SECRET_FILE": write_secret(secrets_dir, "hook", "hook:hook-pass"),
            "DEFAULT_FROM_EMAIL": "MLMW guide <updates@mlmw.org>",
            "LIST_ID": "MLMW guide updates <updates.mlmw.org>",
        }
    )

    check = run_in(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    loaded = run_in(
        env,
        "-c",
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SECRET_KEY, s.SUPPRESSION_KEY, s.DATABASES['default']['PASSWORD'], "
        "s.ANYMAIL['POSTMARK_SERVER_TOKEN'], s.ANYMAIL['WEBHOOK_SECRET']]))",
    )

    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "System check identified no issues (0 silenced)."
    assert check.stderr == ""
    assert loaded.returncode == 0, loaded.stderr
    # Each secret is read from its file, without the file's trailing newline.
    assert json.loads(loaded.stdout) == [
        secret_key,
        "s" * 43,
        "pg-pass",
        "pm-token",
        "hook:hook-pass",
    ]


def test_a_secret_given_both_inline_and_as_a_file_stops_the_process(tmp_path):
    env = clean_environment()
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mlmw.settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SECRET_KEY_FILE": write_secret(tmp_path, "secret_key", secrets.token_urlsafe(50)),
        }
    )

    result = run_in(env, "manage.py", "check")

    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("Set either SECRET_KEY or SECRET_KEY_FILE, not both.")
    )


@pytest.mark.parametrize(
    "setting, value",
    [
        ("DEFAULT_FROM_EMAIL", "MLMW guide <updates@mlmw.example>"),
        ("DEFAULT_FROM_EMAIL", "updates@example.com"),
        ("LIST_ID", "MLMW guide updates <updates.mlmw.example>"),
        ("REPLY_TO", "editors@mlmw.test"),
    ],
)
def test_the_deploy_check_fails_on_mail_that_names_an_example_domain(tmp_path, setting, value):
    result = deploy_check(tmp_path, **{setting: value})

    assert result.returncode != 0
    assert "mlmw.E001" in result.stderr and setting in result.stderr
