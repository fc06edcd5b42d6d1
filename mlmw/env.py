"""Strict readers for settings taken from the environment.

Every setting comes from the environment so that no secret lives in the repository. The helpers are
strict on purpose: a typo such as DEBUG=ture must stop the process with a message naming the variable,
not silently mean False. Each helper also accepts NAME_FILE (a path whose contents are the value), which
is how Docker and Kubernetes hand over secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_UNSET = object()


def _raw(name: str, environ: Mapping[str, str]) -> str | None:
    """The variable's value, from NAME or from the file NAME_FILE points at; None when neither is set."""
    file_var = f"{name}_FILE"
    if name in environ and file_var in environ:
        raise ImproperlyConfigured(f"Set either {name} or {file_var}, not both.")
    if file_var in environ:
        path = Path(environ[file_var])
        try:
            # Secret files usually end with a newline that is not part of the secret.
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ImproperlyConfigured(f"{file_var}: cannot read {path}: {exc.strerror}") from exc
    return environ.get(name)


def env_str(name: str, default: object = _UNSET, *, environ: Mapping[str, str] = os.environ) -> str:
    value = _raw(name, environ)
    if value is None or value == "":
        if default is _UNSET:
            raise ImproperlyConfigured(f"The environment variable {name} is required.")
        return default  # type: ignore[return-value]
    return value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] = os.environ) -> bool:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use true or false.")


def env_int(
    name: str,
    default: int,
    *,
    min_value: int | None = None,
    max_value: int | None = None,
    environ: Mapping[str, str] = os.environ,
) -> int:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        result = default
    else:
        try:
            result = int(value.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if min_value is not None and result < min_value:
        raise ImproperlyConfigured(f"{name}={result} is below the minimum {min_value}.")
    if max_value is not None and result > max_value:
        raise ImproperlyConfigured(f"{name}={result} is above the maximum {max_value}.")
    return result


def env_float(
    name: str,
    default: float,
    *,
    min_value: float | None = None,
    environ: Mapping[str, str] = os.environ,
) -> float:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        result = default
    else:
        try:
            result = float(value.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if min_value is not None and result < min_value:
        raise ImproperlyConfigured(f"{name}={result} is below the minimum {min_value}.")
    return result


def env_list(
    name: str, default: list[str] | None = None, *, environ: Mapping[str, str] = os.environ
) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_prefixed(prefix: str, *, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Every PREFIX<NAME> variable as {NAME: value} (NAME_FILE variants read from their file)."""
    result: dict[str, str] = {}
    for key in sorted(environ):
        if not key.startswith(prefix) or len(key) == len(prefix):
            continue
        name = key[len(prefix) :]
        if name.endswith("_FILE"):
            name = name[: -len("_FILE")]
        value = env_str(prefix + name, "", environ=environ)
        if value:  # an empty variable means unset, as for every other setting
            result[name] = value
    return result
