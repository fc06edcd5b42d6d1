"""Every setting the code reads from the environment is documented in .env.example, and every variable
.env.example names reaches the containers through docker-compose.yml: a value set in .env is never
silently dropped (production once sent the example List-Id whatever .env said)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READ = re.compile(r'env_(?:str|int|bool|float|list)\(\s*"([A-Z][A-Z0-9_]*)"')
# Read from the environment by the test settings only, never in production.
TEST_ONLY = {"TEST_EMAIL_BACKEND", "TEST_ANYMAIL_REQUESTS_TIMEOUT", "TEST_CHANNELS"}


def settings_reads() -> set[str]:
    names: set[str] = set()
    for path in ROOT.glob("*/*.py"):
        if path.parts[-2] in {"tests", "bench", ".venv"} or path.name == "test_settings.py":
            continue
        names |= set(READ.findall(path.read_text()))
    return names - TEST_ONLY


def example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.M))


def compose_passes(name: str) -> bool:
    compose = (ROOT / "docker-compose.yml").read_text()
    as_key = re.search(rf"^\s+{name}(?:_FILE)?:", compose, re.M)
    return bool(as_key) or "${" + name + ":" in compose or "${" + name + "}" in compose


def test_every_setting_read_from_the_environment_is_in_env_example():
    missing = settings_reads() - example_names()

    assert not missing, f".env.example does not name {sorted(missing)}"


def test_compose_passes_every_variable_env_example_names_to_the_containers():
    dropped = sorted(name for name in example_names() if not compose_passes(name))

    assert not dropped, f"docker-compose.yml does not pass {dropped}"


def test_the_check_reads_real_files():
    assert {"LIST_ID", "DEFAULT_FROM_EMAIL", "SITE_URL"} <= settings_reads() & example_names()
