"""mlmw.settings imported in a new interpreter, with only the environment a test gives it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_OWN_VARIABLES = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SITE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
)


def load_settings(
    extra_env: dict[str, str], expression: str = "None"
) -> subprocess.CompletedProcess:
    """Import mlmw.settings in a new interpreter with only `extra_env` set of mlmw's variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ANYMAIL_", "DJANGO_", *_OWN_VARIABLES)) and key != "DATABASE_URL"
    }
    env.update({"DJANGO_SETTINGS_MODULE": "mlmw.settings", **extra_env})
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({expression}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
