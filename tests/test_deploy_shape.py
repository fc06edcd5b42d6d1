"""The production shape: docker-compose.yml and the Dockerfile say what the README promises.

There is no Docker engine here, but `docker compose config` (or the older `docker-compose config`)
needs none: it validates the file against the Compose schema and prints it resolved, which these tests
read. Without any compose client the compose tests are skipped (.ci/run says so too).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> list[str]:
    """The compose client, run on docker-compose.yml with only the file's own defaults: no shell
    variable and no .env file of whoever runs the tests."""
    command = compose_command()
    if command is None:
        pytest.skip("no compose client (docker compose / docker-compose) on this machine")
    empty_env_file = tmp_path_factory.mktemp("compose") / "empty.env"
    empty_env_file.write_text("")
    return [*command, "--env-file", str(empty_env_file), "-f", str(ROOT / "docker-compose.yml")]


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home())},
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


@pytest.fixture(scope="module")
def config(compose) -> dict:
    """The resolved compose file as data: `config --format json` (Compose v2), or v1's YAML read by
    the compose client's own interpreter, which carries PyYAML (this project does not need it).
    With the mailpit profile on, since Compose v2 prints only the services of profiles that are on."""
    compose = [*compose, "--profile", "mailpit"]
    if compose[0].endswith("docker"):
        result = run([*compose, "config", "--format", "json"])
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    result = run([*compose, "config"])
    assert result.returncode == 0, result.stderr
    interpreter = Path(compose[0]).read_text().splitlines()[0].removeprefix("#!").strip()
    converted = run(
        [interpreter, "-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"],
        input=result.stdout,
    )
    assert converted.returncode == 0, converted.stderr
    return json.loads(converted.stdout)


def test_the_compose_file_is_valid(compose):
    result = run([*compose, "config", "-q"])

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_it_runs_the_production_shape(config):
    services = config["services"]

    assert set(services) == {"db", "redis", "mailpit", "migrate", "web", "worker", "beat"}
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][:4] == ["celery", "-A", "mlmw.celery:app", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "mlmw.celery:app", "beat"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["db"]["image"].startswith("postgres:")


def test_redis_keeps_every_queued_task(config):
    command = config["services"]["redis"]["command"]

    assert command[:1] == ["redis-server"]
    assert " ".join(command[1:]) == "--appendonly yes --maxmemory-policy noeviction"


def test_every_long_running_service_has_a_health_check(config):
    for name, service in config["services"].items():
        if name == "migrate":  # runs once and exits: its exit code is what counts
            check = service["healthcheck"]
            assert check.get("disable") is True or check.get("test") == ["NONE"]  # v2 / v1 spelling
            continue
        assert service["healthcheck"]["test"], name
        assert not service["healthcheck"].get("disable"), name
    web_probe = " ".join(config["services"]["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/healthz" in web_probe


def test_the_app_starts_only_on_healthy_services_and_a_finished_migration(config):
    services = config["services"]
    for name in APP_SERVICES:
        conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert conditions == {
            "db": "service_healthy",
            "redis": "service_healthy",
            "migrate": "service_completed_successfully",
        }, name
    migrate = services["migrate"]["depends_on"]
    assert {dep: spec["condition"] for dep, spec in migrate.items()} == {"db": "service_healthy"}


def test_mailpit_runs_only_with_its_profile_so_a_set_up_with_an_esp_does_without_it(config):
    services = config["services"]

    assert services["mailpit"]["profiles"] == ["mailpit"]
    # Every other service starts with a plain `up`, and none waits for mailpit.
    assert [name for name, service in services.items() if service.get("profiles")] == ["mailpit"]
    assert not [
        name for name, service in services.items() if "mailpit" in service.get("depends_on", {})
    ]


def test_mail_goes_to_mailpit_by_default(config):
    for name in (*APP_SERVICES, "migrate"):
        env = config["services"][name]["environment"]
        assert env["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
        assert (env["EMAIL_HOST"], str(env["EMAIL_PORT"])) == ("mailpit", "1025")
        assert (env["CELERY_BROKER_URL"], env["CACHE_URL"]) == (
            "redis://redis:6379/0",
            "redis://redis:6379/1",
        )


def test_secrets_are_docker_secret_files_never_values_in_the_file(config):
    defined = config["secrets"]
    assert set(defined) == {"secret_key", "suppression_key", "postgres_password"}
    assert all(spec["file"].endswith(f"secrets/{name}") for name, spec in defined.items())
    secretish = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY")
    for name, service in config["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if not secretish.search(key):
                continue
            if key.endswith("_FILE"):
                assert str(value).startswith("/run/secrets/"), (name, key)
            else:  # passed through from the operator's environment, empty by default
                assert value in ("", None), (name, key, value)
    app_env = config["services"]["web"]["environment"]
    assert "SECRET_KEY" not in app_env and app_env["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert app_env["DEBUG"] == "false"


# --- The Dockerfile (read as text: no engine here to build it) ------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_image_installs_the_locked_production_dependencies_and_runs_unprivileged():
    instructions = dockerfile_instructions()
    runs = [args for op, args in instructions if op == "RUN"]

    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert any("uv sync --locked --no-dev" in args for args in runs)
    assert any("manage.py collectstatic --noinput" in args for args in runs)
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    cmd = [args for op, args in instructions if op == "CMD"][-1]
    assert json.loads(cmd)[:2] == ["gunicorn", "mlmw.wsgi"]


def test_the_image_bakes_in_no_secret():
    for op, args in dockerfile_instructions():
        if op in {"ENV", "ARG"}:
            assert not re.search(r"SECRET|PASSWORD|TOKEN|_KEY", args), args
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "secrets", ".git", "db.sqlite3"} <= set(ignored)
