"""The small named world the tests share, and the fixtures of the suite.

World: the MLMW guide with two published versions (0.9.0 and 0.10.0, each with changelog entries) and a
draft 0.10.1; an editor in the Editors group; a plain admin superuser; a list admin; subscribers; the
MDTP topic list on request with its reviewers and grants; the groups the data migrations make.

Fixtures of other concerns live beside it, registered below: the real services and Celery worker
processes (tests/services.py, tests/workers.py), the SMTP server (tests/smtp.py), the fake Mailgun
(tests/esp.py) and the channel fakes (tests/conftest_channels.py).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from guide.models import ChangelogEntry, Guide, Version

# The asserts of these helper modules get pytest's messages (nothing imports them before this line).
pytest.register_assert_rewrite("tests.csp", "tests.forms", "tests.mails")
pytest_plugins = [
    "tests.services",
    "tests.workers",
    "tests.smtp",
    "tests.esp",
    "tests.conftest_channels",
]

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def pytest_sessionstart(session: pytest.Session) -> None:
    from tests.services import IN_CI

    # CI must exercise PostgreSQL, not quietly fall back to the SQLite default.
    if IN_CI and not os.environ.get("DATABASE_URL", "").startswith(
        ("postgres://", "postgresql://")
    ):
        raise pytest.UsageError("CI=true but DATABASE_URL does not point at PostgreSQL")


# --- The world ---------------------------------------------------------------------------------------

MLMW_0_9_0 = """# The MLMW guide

Notes on machine learning, with links.

## Beginner track

Start with [MML](https://mml-book.github.io/) for the maths.

## Reference texts

- [Bishop (2006)](https://www.microsoft.com/en-us/research/people/cmbishop/prml-book/)
- [Theano](https://github.com/Theano/Theano)
"""

MLMW_0_10_0 = """# The MLMW guide

Notes on machine learning, with links.

## Beginner track

Start with [MML](https://mml-book.github.io/) for the maths, then [ISLP](https://www.statlearning.com/).

## Reference texts

- [Bishop (2006), Pattern Recognition and Machine Learning](https://www.microsoft.com/en-us/research/people/cmbishop/prml-book/)

## Interviews

> Diffusion feels like it shouldn't work.
"""

MLMW_0_10_1 = MLMW_0_10_0.replace(
    "## Interviews",
    "## Python packages\n\n- [scikit-learn](https://scikit-learn.org/)\n\n## Interviews",
)


@pytest.fixture
def guide(db) -> Guide:
    return Guide.objects.create(
        slug="mlmw",
        title="The MLMW guide",
        description="A collection of topics with links and quotes.",
        telegram_url="https://t.me/mlmw_guide",
        reddit_url="https://www.reddit.com/r/mlmw/",
    )


@pytest.fixture
def mdtp(db) -> Guide:
    """A second guide, with nothing published (modules that need its versions make their own)."""
    return Guide.objects.create(slug="mdtp", title="MDTP topic list")


def make_version(
    guide: Guide, number: str, content: str, *, published_at=None, bump="", entries=()
):
    version = Version.objects.create(
        guide=guide,
        number=number,
        title=f"Release {number}",
        content=content,
        status=Version.Status.PUBLISHED if published_at else Version.Status.DRAFT,
        published_at=published_at,
        bump=bump,
    )
    for order, (kind, text) in enumerate(entries):
        ChangelogEntry.objects.create(version=version, kind=kind, text=text, order=order)
    return version


@pytest.fixture
def v0_9_0(guide: Guide) -> Version:
    return make_version(
        guide,
        "0.9.0",
        MLMW_0_9_0,
        published_at=datetime(2026, 6, 1, 9, tzinfo=UTC),
        bump="major",
        entries=[("added", "First public version with the beginner track.")],
    )


@pytest.fixture
def v0_10_0(v0_9_0: Version) -> Version:
    return make_version(
        v0_9_0.guide,
        "0.10.0",
        MLMW_0_10_0,
        published_at=datetime(2026, 9, 15, 9, tzinfo=UTC),
        bump="minor",
        entries=[
            ("added", "[ISLP](https://www.statlearning.com/) in the beginner track."),
            ("added", "An *Interviews* section."),
            ("removed", "Theano, no longer maintained."),
            ("changed", "Retitled the Bishop link."),
        ],
    )


@pytest.fixture
def draft(v0_10_0: Version) -> Version:
    return make_version(
        v0_10_0.guide,
        "0.10.1",
        MLMW_0_10_1,
        entries=[("added", "A Python packages section with scikit-learn.")],
    )


@pytest.fixture
def editor(db) -> User:
    user = User.objects.create_user("edna", "edna@mlmw.example", "edna-password", is_staff=True)
    user.groups.add(Group.objects.get(name="Editors"))
    return user


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", "root@mlmw.example", "root-password")


# --- Requests as a browser makes them ---------------------------------------------------------------


@pytest.fixture
def clear_cache():
    """An empty Django cache before and after the test (rate-limit counters live there)."""
    from django.core.cache import cache

    cache.clear()
    yield cache
    cache.clear()


@pytest.fixture
def post_committed(db, django_capture_on_commit_callbacks):
    """client.post, then the request's on-commit callbacks run as a real commit would run them.

    The subscribe and confirm views enqueue their mail tasks on commit (eager Celery in the suite), and
    the `db` fixture never commits; this runs those callbacks, so the mail is really sent. (It sets up
    the database first: that resets django.core.mail.outbox, which must happen before `mailoutbox`.)
    """

    def post(client, path: str, data=None, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data if data is not None else {}, **extra)

    return post


# --- Subscriptions admin: a member of the Admins group ----------------------------------------------


@pytest.fixture
def list_admin(db) -> User:
    """Staff in the Admins group (the group comes from a data migration): manages subscribers."""
    user = User.objects.create_user("ada", "ada@mlmw.example", "ada-password", is_staff=True)
    user.groups.add(Group.objects.get(name="Admins"))
    return user


@pytest.fixture
def list_admin_client(client, list_admin):
    client.force_login(list_admin)
    return client


# --- Subscribers ------------------------------------------------------------------------------------


def make_subscribers(
    guide: Guide,
    prefix: str,
    count: int,
    *,
    status: str = "confirmed",
    cadence: str = "every",
    baseline: Version | None = None,
    guides: tuple[Guide, ...] = (),
):
    """`count` subscribers of `guide` (and `guides`), prefix-00@example.org onwards, in id order; with
    `baseline`, that is the version of `guide` they were last mailed."""
    from django.utils import timezone

    from subscriptions import addresses
    from subscriptions.models import Baseline, Subscriber

    made = []
    for n in range(count):
        email = f"{prefix}-{n:02d}@example.org"
        subscriber = Subscriber.objects.create(
            email=email,
            email_key=addresses.key(email),
            status=status,
            cadence=cadence,
            confirmed_at=timezone.now() if status == "confirmed" else None,
        )
        subscriber.guides.add(guide, *guides)
        if baseline is not None:
            Baseline.objects.create(subscriber=subscriber, guide=guide, version=baseline)
        made.append(subscriber)
    return made


# --- Access on request: artifacts with real files in a throwaway MEDIA_ROOT --------------------------

TOPIC_LIST_BYTES = b"# MDTP topic list\n\n" + b"".join(
    b"- Topic %03d: [a link](https://example.org/%03d)\n" % (n, n) for n in range(400)
)
# The topic list's next revision: one topic more.
NEW_BYTES = TOPIC_LIST_BYTES + b"- A new topic: [evals](https://example.org/evals)\n"


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    """Uploads of the test go to its own folder, which is gone afterwards."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_artifact(guide: Guide, title: str = "MDTP topic list", **fields):
    from access.models import Artifact

    defaults = {"intent": "A slim list of topics I wish I knew well", "policy": "on_request"}
    return Artifact.objects.create(guide=guide, title=title, **{**defaults, **fields})


def add_revision(artifact, data: bytes, name: str = "topics.md", **fields):
    """A revision stored as the admin stores one: content checked, file saved through storage."""
    from django.core.files.base import ContentFile

    from access import uploads

    return uploads.store(artifact, ContentFile(data, name=name), **fields)


def upload_revision(user, artifact, data: bytes, note: str) -> None:
    """A revision uploaded as an editor uploads one: the artifact's admin page, its revisions form."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    from tests import pages
    from tests.forms import page_forms

    client = Client()
    client.force_login(user)
    url = reverse("admin:access_artifact_change", args=[artifact.pk])
    (form,) = [f for f in page_forms(client.get(url)) if "revisions-TOTAL_FORMS" in f.fields]
    payload = {k: v[0] if len(v) == 1 else v for k, v in form.fields.items()}
    index = int(payload["revisions-TOTAL_FORMS"]) - 1  # the empty extra form
    payload[f"revisions-{index}-file"] = SimpleUploadedFile("topics.md", data)
    payload[f"revisions-{index}-note"] = note
    response = client.post(url, payload)
    assert response.status_code == 302, pages.text(response)


@pytest.fixture
def topic_list(guide, media_root):
    """The MDTP topic list, on request, with one Markdown revision (TOPIC_LIST_BYTES)."""
    artifact = make_artifact(guide)
    add_revision(artifact, TOPIC_LIST_BYTES)
    return artifact


@pytest.fixture
def reviewing_editor(editor, guide):
    """The editor fixture, made a Reviewer of the guide: reviews its access requests."""
    from access.models import Reviewer

    Reviewer.objects.create(guide=guide, user=editor)
    return editor


def grant_for(artifact, email: str = "ann@example.org", **grant_fields):
    """An approved request with a live grant whose link mail the ESP accepted; returns (grant, token)
    as the mailed link has it."""
    from datetime import timedelta

    from django.utils import timezone

    from access.models import AccessRequest, Grant, GrantToken

    request = AccessRequest.objects.create(
        artifact=artifact, email=email, email_key=email.lower(), status="approved",
        verified_at=timezone.now(), decided_at=timezone.now(),
    )  # fmt: skip
    fields = {
        "expires_at": timezone.now() + timedelta(days=30),
        "max_downloads": 20,
        "link_sent_at": timezone.now(),
    }
    grant = Grant.objects.create(request=request, artifact=artifact, **{**fields, **grant_fields})
    _, token = GrantToken.issue(grant, mailed_at=grant.link_sent_at)
    return grant, token


# --- The groups the data migrations make ------------------------------------------------------------


def _group_permissions() -> dict[str, list[tuple[str, str]]]:
    """The Editors and Admins groups' permissions, read from the data migrations that make them."""
    from importlib import import_module

    editors = import_module("guide.migrations.0002_editors_group").EDITOR_PERMISSIONS
    admins = import_module("subscriptions.migrations.0002_admins_group").ADMIN_PERMISSIONS
    mailings = import_module("subscriptions.migrations.0003_admins_mailings").GROUP_PERMISSIONS
    access = import_module("access.migrations.0002_groups").GROUP_PERMISSIONS
    return {
        "Editors": editors + mailings["Editors"] + access["Editors"],
        "Admins": admins + mailings["Admins"] + access["Admins"],
    }


@pytest.fixture
def migrated_groups(transactional_db) -> None:
    """The Editors and Admins groups as the data migrations left them, for tests that commit.

    A transactional test's database is flushed afterwards, and a flush takes the migrations' data
    with it: the permissions come back (post_migrate), the groups do not. serialized_rollback would
    restore them, but it collides with the content types that an earlier test's flush re-created
    (duplicate key on django_content_type), depending on test order. So they are made here.
    """
    from django.contrib.auth.models import Permission

    for name, wanted in _group_permissions().items():
        group, created = Group.objects.get_or_create(name=name)
        if created:
            for app_label, codename in wanted:
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )
