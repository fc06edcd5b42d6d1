"""manage.py publish_version: create, publish or schedule a version from files, all or nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command

from guide.changelog import entries_for
from guide.models import ChangelogEntry, Guide, Version

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "guide" / "demo" / "mlmw"
CHANGELOG = DEMO / "CHANGELOG.md"
NOW = datetime(2026, 9, 15, 9, tzinfo=UTC)


def publish_version(*args: str) -> str:
    out = StringIO()
    call_command("publish_version", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def counts() -> tuple[int, int]:
    return Version.objects.count(), ChangelogEntry.objects.count()


@pytest.fixture
def mlmw_0_9_0(guide: Guide) -> Version:
    """The guide with 0.9.0 published from the demo file (with its changelog section)."""
    with time_machine.travel(datetime(2026, 6, 1, 9, tzinfo=UTC), tick=False):
        publish_version(
            "mlmw", "0.9.0", "--content", str(DEMO / "0.9.0.md"), "--changelog", str(CHANGELOG)
        )
    return Version.objects.get(guide=guide, number="0.9.0")


def test_the_first_version_is_published_as_a_major_release(mlmw_0_9_0):
    assert mlmw_0_9_0.status == Version.Status.PUBLISHED
    assert mlmw_0_9_0.bump == "major"
    assert mlmw_0_9_0.title == "Version 0.9.0"
    assert mlmw_0_9_0.content == (DEMO / "0.9.0.md").read_text(encoding="utf-8")
    assert mlmw_0_9_0.published_at == datetime(2026, 6, 1, 9, tzinfo=UTC)
    assert mlmw_0_9_0.entries.count() == 4


def test_publishing_from_the_demo_files_stores_the_version_and_every_changelog_entry(mlmw_0_9_0):
    with time_machine.travel(NOW, tick=False):
        out = publish_version(
            "mlmw",
            "0.10.0",
            "--content", str(DEMO / "0.10.0.md"),
            "--changelog", str(CHANGELOG),
            "--title", "  Interviews and more reference texts  ",
        )  # fmt: skip

    version = Version.objects.get(guide__slug="mlmw", number="0.10.0")
    assert version.status == Version.Status.PUBLISHED
    assert version.title == "Interviews and more reference texts"
    assert version.content == (DEMO / "0.10.0.md").read_text(encoding="utf-8")
    assert version.bump == "minor"
    assert version.published_at == NOW
    assert version.publish_at is None
    expected = entries_for(CHANGELOG.read_text(encoding="utf-8"), "0.10.0")
    assert [(e.kind, e.text) for e in version.entries.all()] == expected
    assert [e.order for e in version.entries.all()] == list(range(10))
    assert [e.kind for e in version.entries.all()][:5] == ["added"] * 5
    assert version.entries.all()[8].text.startswith("Theano from the deep learning packages")
    assert out == "published mlmw 0.10.0 (minor, 10 changelog entries)\n"
    assert Version.objects.latest() == version


def test_without_a_changelog_the_version_has_no_entries_and_a_default_title(mlmw_0_9_0):
    out = publish_version("mlmw", "0.9.1", "--content", str(DEMO / "0.10.1.md"))

    version = Version.objects.get(number="0.9.1")
    assert version.title == "Version 0.9.1"
    assert version.bump == "patch"
    assert version.entries.count() == 0
    assert out == "published mlmw 0.9.1 (patch, 0 changelog entries)\n"


def test_at_with_a_future_time_schedules_and_publishes_nothing(mlmw_0_9_0):
    at = "2026-09-15T09:00:00+00:00"
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        out = publish_version(
            "mlmw", "0.10.0", "--content", str(DEMO / "0.10.0.md"),
            "--changelog", str(CHANGELOG), "--at", at,
        )  # fmt: skip

    version = Version.objects.get(number="0.10.0")
    assert version.status == Version.Status.SCHEDULED
    assert version.publish_at == NOW
    assert version.published_at is None
    assert version.bump == ""
    assert version.entries.count() == 10
    assert Version.objects.latest() == mlmw_0_9_0
    assert out == f"scheduled mlmw 0.10.0 for {at}\n"


def test_at_accepts_a_z_suffix(mlmw_0_9_0):
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        publish_version(
            "mlmw", "0.10.0", "--content", str(DEMO / "0.10.0.md"), "--at", "2026-09-15T09:00:00Z"
        )

    assert Version.objects.get(number="0.10.0").publish_at == NOW


# --- Bad input: a one-line reason, and nothing written --------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


CONTENT = str(DEMO / "0.10.0.md")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "0.10.0", "--content", CONTENT], "unknown guide 'nope'"),
        (
            ["mlmw", "v0.10.0", "--content", CONTENT],
            "'v0.10.0' is not a version number like 1.4.0 (three whole numbers, no leading zeros).",
        ),
        (
            ["mlmw", "0.8.0", "--content", CONTENT],
            "0.8.0 is not greater than the latest published version 0.9.0.",
        ),
        (
            ["mlmw", "0.8.0", "--content", CONTENT, "--at", "2030-01-01T00:00:00+00:00"],
            "0.8.0 is not greater than the latest published version 0.9.0.",
        ),
        (["mlmw", "0.9.0", "--content", CONTENT], "mlmw 0.9.0 already exists"),
        (
            ["mlmw", "0.10.0", "--content", "{tmp}/missing.md"],
            "content file not found: {tmp}/missing.md",
        ),
        (["mlmw", "0.10.0", "--content", "{empty}"], "content file {empty} is empty"),
        (
            ["mlmw", "0.10.0", "--content", CONTENT, "--changelog", "{tmp}/CHANGES.md"],
            "changelog file not found: {tmp}/CHANGES.md",
        ),
        (
            ["mlmw", "0.11.0", "--content", CONTENT, "--changelog", str(CHANGELOG)],
            f"{CHANGELOG}: the changelog has no section for 0.11.0",
        ),
        (
            ["mlmw", "0.10.0", "--content", CONTENT, "--changelog", "{foo_kind}"],
            "{foo_kind}: line 3: unknown kind 'Foo' "
            "(use one of Added, Changed, Deprecated, Removed, Fixed, Security)",
        ),
        (
            ["mlmw", "0.10.0", "--content", CONTENT, "--changelog", "{empty_section}"],
            "{empty_section}: the changelog section for 0.10.0 has no entries",
        ),
        (
            ["mlmw", "0.10.0", "--content", CONTENT, "--at", "tomorrow"],
            "--at 'tomorrow' is not an ISO 8601 time",
        ),
        (
            ["mlmw", "0.10.0", "--content", CONTENT, "--at", "2030-01-01T09:00:00"],
            "--at '2030-01-01T09:00:00' needs a time zone, e.g. 2026-12-01T09:00:00+00:00",
        ),
        (
            ["mlmw", "0.10.0", "--content", CONTENT, "--at", "2026-01-01T09:00:00+00:00"],
            "--at 2026-01-01T09:00:00+00:00 is in the past; leave --at out to publish now",
        ),
    ],
    ids=[
        "unknown-guide",
        "invalid-number",
        "lower-number",
        "lower-number-scheduled",
        "existing-number",
        "missing-content",
        "empty-content",
        "missing-changelog",
        "no-section",
        "unknown-kind",
        "empty-section",
        "at-not-iso",
        "at-naive",
        "at-in-the-past",
    ],
)
def test_bad_input_is_a_one_line_error_and_writes_nothing(mlmw_0_9_0, tmp_path, args, message):
    files = {
        "tmp": str(tmp_path),
        "empty": write(tmp_path, "empty.md", " \n\n"),
        "foo_kind": write(tmp_path, "foo.md", "## [0.10.0] - 2026-09-15\n\n### Foo\n\n- x\n"),
        "empty_section": write(
            tmp_path, "empty_section.md", "## [0.10.0]\n\n## [0.9.0]\n### Added\n- x\n"
        ),
    }
    args = [arg.format(**files) for arg in args]
    message = message.format(**files)
    before = counts()
    before_latest = Version.objects.latest()

    with time_machine.travel(NOW, tick=False), pytest.raises(CommandError) as excinfo:
        publish_version(*args)

    assert str(excinfo.value) == message
    assert "\n" not in str(excinfo.value)
    assert counts() == before
    assert Version.objects.latest() == before_latest
    assert not Version.objects.exclude(pk=mlmw_0_9_0.pk).exists()


def test_a_missing_required_option_is_an_error_that_writes_nothing(mlmw_0_9_0):
    before = counts()

    with pytest.raises(CommandError, match="the following arguments are required: --content"):
        publish_version("mlmw", "0.10.0")

    assert counts() == before


# --- As a real process ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> dict[str, str]:
    """A fresh SQLite database, migrated once for this module's subprocess tests."""
    db = tmp_path_factory.mktemp("publish-version-cli") / "db.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlmw.test_settings",
        "DATABASE_URL": f"sqlite:///{db}",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return env


def test_the_command_exits_non_zero_with_a_single_line_on_stderr(migrated_sqlite):
    result = subprocess.run(
        [sys.executable, "manage.py", "publish_version", "nope", "1.0.0", "--content", CONTENT],
        cwd=ROOT, env=migrated_sqlite, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "CommandError: unknown guide 'nope'\n"
