"""Settings from the environment: strict readers, and the settings module as a whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from mlmw.env import env_bool, env_float, env_int, env_list, env_prefixed, env_str
from tests.settings_process import load_settings

ROOT = Path(__file__).resolve().parent.parent


# --- env_bool ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1", "yes", "YES", "on", " true "])
def test_env_bool_reads_true(value):
    assert env_bool("DEBUG", False, environ={"DEBUG": value}) is True


@pytest.mark.parametrize("value", ["false", "FALSE", "False", "0", "no", "No", "off"])
def test_env_bool_reads_false(value):
    assert env_bool("DEBUG", True, environ={"DEBUG": value}) is False


@pytest.mark.parametrize("environ", [{}, {"DEBUG": ""}, {"DEBUG": "   "}])
def test_env_bool_unset_or_blank_is_the_default(environ):
    assert env_bool("DEBUG", True, environ=environ) is True
    assert env_bool("DEBUG", False, environ=environ) is False


@pytest.mark.parametrize("value", ["ture", "flase", "2", "y", "enabled"])
def test_env_bool_rejects_anything_else_naming_the_variable(value):
    with pytest.raises(ImproperlyConfigured) as excinfo:
        env_bool("DEBUG", False, environ={"DEBUG": value})

    assert str(excinfo.value) == f"DEBUG={value!r} is not a boolean: use true or false."


# --- env_int / env_float -------------------------------------------------------------------------


def test_env_int_reads_a_whole_number_or_the_default():
    assert env_int("EMAIL_PORT", 25, environ={"EMAIL_PORT": " 587 "}) == 587
    assert env_int("EMAIL_PORT", 25, environ={}) == 25
    assert env_int("EMAIL_PORT", 25, environ={"EMAIL_PORT": ""}) == 25


@pytest.mark.parametrize("value", ["abc", "1.5", "25 ports", "0x19"])
def test_env_int_rejects_a_non_number(value):
    with pytest.raises(ImproperlyConfigured, match=r"^EMAIL_PORT=.* is not a whole number\.$"):
        env_int("EMAIL_PORT", 25, environ={"EMAIL_PORT": value})


def test_env_int_enforces_its_bounds_inclusively():
    bounds = {"min_value": 1, "max_value": 65535}

    assert env_int("EMAIL_PORT", 25, environ={"EMAIL_PORT": "1"}, **bounds) == 1
    assert env_int("EMAIL_PORT", 25, environ={"EMAIL_PORT": "65535"}, **bounds) == 65535
    with pytest.raises(ImproperlyConfigured, match=r"^EMAIL_PORT=0 is below the minimum 1\.$"):
        env_int("EMAIL_PORT", 25, environ={"EMAIL_PORT": "0"}, **bounds)
    with pytest.raises(
        ImproperlyConfigured, match=r"^EMAIL_PORT=65536 is above the maximum 65535\.$"
    ):
        env_int("EMAIL_PORT", 25, environ={"EMAIL_PORT": "65536"}, **bounds)


def test_env_int_checks_the_default_against_its_bounds_too():
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env_int("X", -1, min_value=0, environ={})


def test_env_float_reads_a_number_and_rejects_text():
    assert env_float("RATE", 1.0, environ={"RATE": "0.25"}) == 0.25
    with pytest.raises(ImproperlyConfigured, match=r"^RATE='fast' is not a number\.$"):
        env_float("RATE", 1.0, environ={"RATE": "fast"})
    with pytest.raises(ImproperlyConfigured, match=r"^RATE=-1\.0 is below the minimum 0\.$"):
        env_float("RATE", 1.0, min_value=0, environ={"RATE": "-1"})


# --- env_str / env_list --------------------------------------------------------------------------


def test_env_str_requires_a_value_when_there_is_no_default():
    assert (
        env_str("SITE_URL", environ={"SITE_URL": "https://mlmw.example"}) == "https://mlmw.example"
    )
    assert env_str("SITE_URL", "http://x", environ={"SITE_URL": ""}) == "http://x"
    with pytest.raises(
        ImproperlyConfigured, match=r"^The environment variable SITE_URL is required\.$"
    ):
        env_str("SITE_URL", environ={})


def test_env_list_splits_on_commas_and_drops_blank_items():
    environ = {"ALLOWED_HOSTS": " mlmw.example, www.mlmw.example ,,  "}

    assert env_list("ALLOWED_HOSTS", environ=environ) == ["mlmw.example", "www.mlmw.example"]
    assert env_list("ALLOWED_HOSTS", ["localhost"], environ={}) == ["localhost"]
    assert env_list("ALLOWED_HOSTS", environ={"ALLOWED_HOSTS": " "}) == []


def test_env_list_default_is_not_shared_between_calls():
    default = ["localhost"]
    first = env_list("ALLOWED_HOSTS", default, environ={})
    first.append("evil.example")

    assert env_list("ALLOWED_HOSTS", default, environ={}) == ["localhost"]


# --- NAME_FILE -----------------------------------------------------------------------------------


def test_a_name_file_variable_is_read_with_its_trailing_newline_stripped(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("s3cr3t value\n", encoding="utf-8")

    assert env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(secret)}) == "s3cr3t value"


def test_a_windows_line_ending_is_stripped_too_but_inner_whitespace_is_kept(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_bytes(b"  two words \r\n")

    assert env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(secret)}) == "  two words "


def test_every_helper_reads_name_file(tmp_path):
    (tmp_path / "debug").write_text("true\n")
    (tmp_path / "port").write_text("2525\n")
    (tmp_path / "hosts").write_text("a.example,b.example\n")

    assert env_bool("DEBUG", False, environ={"DEBUG_FILE": str(tmp_path / "debug")}) is True
    assert env_int("EMAIL_PORT", 25, environ={"EMAIL_PORT_FILE": str(tmp_path / "port")}) == 2525
    assert env_list("ALLOWED_HOSTS", environ={"ALLOWED_HOSTS_FILE": str(tmp_path / "hosts")}) == [
        "a.example",
        "b.example",
    ]


def test_setting_both_name_and_name_file_is_an_error(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("from-file\n")

    with pytest.raises(
        ImproperlyConfigured, match=r"^Set either SECRET_KEY or SECRET_KEY_FILE, not both\.$"
    ):
        env_str("SECRET_KEY", environ={"SECRET_KEY": "inline", "SECRET_KEY_FILE": str(secret)})


def test_an_unreadable_name_file_is_an_error_naming_the_variable_and_path(tmp_path):
    missing = tmp_path / "nope"

    with pytest.raises(ImproperlyConfigured) as excinfo:
        env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(missing)})

    assert (
        str(excinfo.value) == f"SECRET_KEY_FILE: cannot read {missing}: No such file or directory"
    )


def test_a_directory_as_name_file_is_an_error(tmp_path):
    with pytest.raises(ImproperlyConfigured, match=r"^SECRET_KEY_FILE: cannot read "):
        env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(tmp_path)})


# --- env_prefixed --------------------------------------------------------------------------------


def test_env_prefixed_collects_every_variable_with_the_prefix(tmp_path):
    token = tmp_path / "token"
    token.write_text("pm-token\n")
    environ = {
        "ANYMAIL_POSTMARK_SERVER_TOKEN_FILE": str(token),
        "ANYMAIL_MAILGUN_SENDER_DOMAIN": "mg.mlmw.example",
        "ANYMAIL_": "ignored: no name",
        "NOT_ANYMAIL_X": "ignored: other prefix",
        "anymail_lower": "ignored: case matters",
    }

    assert env_prefixed("ANYMAIL_", environ=environ) == {
        "MAILGUN_SENDER_DOMAIN": "mg.mlmw.example",
        "POSTMARK_SERVER_TOKEN": "pm-token",
    }


def test_env_prefixed_refuses_a_name_given_both_ways(tmp_path):
    token = tmp_path / "token"
    token.write_text("x")

    with pytest.raises(ImproperlyConfigured, match="ANYMAIL_API_KEY or ANYMAIL_API_KEY_FILE"):
        env_prefixed(
            "ANYMAIL_", environ={"ANYMAIL_API_KEY": "a", "ANYMAIL_API_KEY_FILE": str(token)}
        )


# --- The settings module as a whole, in a fresh process ------------------------------------------


def test_a_misspelt_debug_stops_the_process_naming_debug():
    result = load_settings({"DEBUG": "ture", "SECRET_KEY": "x" * 50})

    assert result.returncode != 0
    assert result.stdout == ""
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        "django.core.exceptions.ImproperlyConfigured: "
        "DEBUG='ture' is not a boolean: use true or false."
    )


def test_without_debug_a_secret_key_is_required():
    result = load_settings({"DEBUG": "false"})

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: SECRET_KEY is required when DEBUG is false."
    )


def test_debug_runs_on_the_development_key():
    result = load_settings({"DEBUG": "true"}, "[settings.DEBUG, settings.SECRET_KEY]")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [True, "django-insecure-mlmw-development-only"]


def test_anymail_variables_become_the_anymail_setting(tmp_path):
    api_key = tmp_path / "mailgun"
    api_key.write_text("mg-key\n")

    result = load_settings(
        {
            "SECRET_KEY": "x" * 50,
            "ANYMAIL_POSTMARK_SERVER_TOKEN": "pm-123",
            "ANYMAIL_MAILGUN_API_KEY_FILE": str(api_key),
            "ANYMAIL_IGNORE_UNSUPPORTED_FEATURES": "true",
        },
        "settings.ANYMAIL",
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "IGNORE_UNSUPPORTED_FEATURES": True,
        "MAILGUN_API_KEY": "mg-key",
        "POSTMARK_SERVER_TOKEN": "pm-123",
    }


def test_without_a_broker_tasks_run_eagerly_and_with_one_they_do_not():
    expression = "[settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER]"

    without = load_settings({"SECRET_KEY": "x" * 50}, expression)
    with_broker = load_settings(
        {"SECRET_KEY": "x" * 50, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}, expression
    )

    assert without.returncode == 0, without.stderr
    assert json.loads(without.stdout) == ["", True]
    assert json.loads(with_broker.stdout) == ["redis://127.0.0.1:6379/0", False]


def test_a_cache_url_that_is_not_redis_is_refused():
    result = load_settings({"SECRET_KEY": "x" * 50, "CACHE_URL": "memcached://127.0.0.1:11211"})

    assert result.returncode != 0
    assert "CACHE_URL='memcached://127.0.0.1:11211' must be a redis:// URL." in result.stderr
