"""`make run`'s shape, end to end in a subprocess: SQLite, no broker (tasks run in-process), mail to
files. Publishing the demo draft mails each demo subscriber whose cadence includes a major release
their diff. CI's suite runs on PostgreSQL; this keeps the embedded default covered there too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from email import message_from_string
from pathlib import Path

from tests.conftest import ROOT

MAKE = shutil.which("make") or "/usr/bin/make"

PUBLISH = """
from guide import publishing
from guide.models import Version
from subscriptions.models import Mailing, Subscriber
readers = Subscriber.objects.filter(status="confirmed", guides__slug="mlmw").count()
print("READERS", readers)
version = Version.objects.get(guide__slug="mlmw", number="1.0.0")
publishing.publish(version)
mailing = Mailing.objects.get(version=version)
print("MAILING", mailing.status, mailing.audience_size,
      mailing.deliveries.filter(status="sent").count())
"""


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_publishing_the_demo_draft_on_sqlite_mails_the_demo_subscribers_their_diff(tmp_path):
    mail_dir = tmp_path / "mail"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "mlmw.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    run(env, "migrate", "--verbosity", "0")
    run(env, "load_demo")
    run(env, "load_demo_subscribers")

    published = run(env, "shell", "-c", PUBLISH)

    # 1.0.0 is a major release: every cadence includes it, so every confirmed reader of the guide.
    readers = int(published.stdout.split("READERS ", 1)[1].split()[0])
    assert readers >= 3
    assert f"MAILING done {readers} {readers}" in published.stdout, published.stderr[-2000:]
    messages = [
        message_from_string(part)
        for path in sorted(Path(mail_dir).iterdir())
        for part in path.read_text().split("-" * 79 + "\n")
        if part.strip()
    ]
    release = [m for m in messages if "1.0.0" in m["Subject"]]
    assert len(release) == readers
    assert len({m["To"] for m in release}) == readers
    for message in release:
        assert message["List-Unsubscribe"].strip().startswith("<http://127.0.0.1:8000/unsubscribe/")
        text = next(
            part.get_payload(decode=True).decode()
            for part in message.walk()
            if part.get_content_type() == "text/plain"
        )
        assert "1.0.0" in text


def test_make_manage_runs_a_readme_command_on_make_runs_settings_without_a_secret_key(tmp_path):
    """The README's `make manage ARGS="…"`: a bare manage.py reads production settings and stops
    without SECRET_KEY; through make it gets make run's DEBUG=true, as make run does."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    bare = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "mlmw.settings"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bare.returncode != 0
    assert "SECRET_KEY is required when DEBUG is false." in bare.stderr

    for args in ("migrate --verbosity 0", "load_demo"):
        made = subprocess.run(
            [MAKE, "--no-print-directory", "-s", "manage", f"ARGS={args}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr[-3000:]

    assert "demo data: 2 guides, 6 versions created" in made.stdout
