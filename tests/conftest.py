"""The small named world the tests share, and the real services some of them need.

World: the MLMW guide with two published versions (0.9.0 and 0.10.0, each with changelog entries) and a
draft 0.10.1; an editor in the Editors group; a plain admin superuser.

Services: tests marked `worker` run a real Celery worker process on the real Redis broker against
the real PostgreSQL test database. Where PostgreSQL or Redis cannot be reached they skip locally and
fail in CI (CI=true), so CI can never pass without having run them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from guide.models import ChangelogEntry, Guide, Version

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "worker: runs a real Celery worker on Redis and PostgreSQL")


def pytest_sessionstart(session: pytest.Session) -> None:
    # CI must exercise PostgreSQL, not quietly fall back to the SQLite default.
    if IN_CI and not os.environ.get("DATABASE_URL", "").startswith(
        ("postgres://", "postgresql://")
    ):
        raise pytest.UsageError("CI=true but DATABASE_URL does not point at PostgreSQL")


def service_unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a service test that did not run must not look green there."""
    if IN_CI:
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


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


# --- Real services -----------------------------------------------------------------------------------


@pytest.fixture
def redis_broker() -> str:
    """The suite's own Redis database (flushed before use), or skip/fail when Redis is down."""
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        service_unavailable(f"Redis at {TEST_REDIS_URL}: {exc}")
    client.flushdb()
    return TEST_REDIS_URL


def _database_url_for_test_db() -> str:
    s = connection.settings_dict
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def start_worker(
    transactional_db, redis_broker: str, settings
) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start real `celery worker` processes on the real broker and the test PostgreSQL database.

    `start_worker(concurrency=2, beat=False, **env)` starts one and returns its Popen (with
    beat=True it runs beat too, so the sweepers run on their MAIL_SWEEP_INTERVAL); `env` adds environment
    variables for it (the worker reads its settings from mlmw.test_settings and the environment,
    e.g. MAIL_BATCH_SIZE="5"), and the same values are set on this process's settings (see
    `_mirror_settings`), so code the test runs itself (publish, the sweeper) agrees with the worker.
    The test process enqueues through the same broker (eager mode off), so a task goes the whole way:
    on_commit → Redis → worker process → PostgreSQL. Tests wait on the database, never on sleeps.

    Each worker is its own process group (start_new_session), so a test can kill it whole:
    os.killpg(worker.pid, signal.SIGKILL). Workers still running at the end are stopped warm
    (SIGTERM), then killed.
    """
    if connection.vendor != "postgresql":
        service_unavailable("worker tests need PostgreSQL (set DATABASE_URL)")
    from mlmw.celery import app

    settings.CELERY_BROKER_URL = redis_broker
    app.conf.update(broker_url=redis_broker, task_always_eager=False)
    _reset_broker_pools(app)
    # The workers' own log, for reading when a worker test fails: var/test-worker.log, or
    # TEST_WORKER_LOG (a session of its own, with its own TEST_REDIS_URL database, beside another).
    path = Path(os.environ.get("TEST_WORKER_LOG", ROOT / "var" / "test-worker.log"))
    path.parent.mkdir(parents=True, exist_ok=True)
    log = open(path, "ab")  # noqa: SIM115 - closed after the workers
    started: list[subprocess.Popen] = []

    def start(*, concurrency: int = 2, beat: bool = False, **extra: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mlmw.test_settings",
            "DATABASE_URL": _database_url_for_test_db(),
            "CELERY_BROKER_URL": redis_broker,
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        _mirror_settings(settings, extra)
        log.write(f"--- worker for {os.environ.get('PYTEST_CURRENT_TEST', '?')}\n".encode())
        log.flush()
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "mlmw.celery:app", "worker",
                f"--concurrency={concurrency}", "--pool=prefork", "--loglevel=INFO",
                "--without-heartbeat", "--without-mingle", "--without-gossip",
                "-n", f"test-{os.getpid()}-{len(started)}@%h", *beat_args(beat),
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        process.node_name = f"test-{os.getpid()}-{len(started)}@{socket.gethostname()}"
        started.append(process)
        return process

    def beat_args(beat: bool) -> list[str]:
        if not beat:
            return []
        schedule = path.parent / f"test-beat-{os.getpid()}-{len(started)}"
        return ["--beat", f"--schedule={schedule}"]

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        app.conf.update(broker_url=None, task_always_eager=True)
        _reset_broker_pools(app)


def _mirror_settings(settings, env: dict[str, str]) -> None:
    """Give this process the settings a worker reads from `env` (the ones worker tests set)."""
    for name, value in env.items():
        if name == "TEST_EMAIL_BACKEND":
            settings.EMAIL_BACKEND = value
            if "mailgun" in value and "MAIL_MERGE_PLACEHOLDER" not in env:
                settings.MAIL_MERGE_PLACEHOLDER = "%recipient.{}%"  # settings.py's default for it
        elif name == "TEST_ANYMAIL_REQUESTS_TIMEOUT":
            settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": float(value)}
        elif name.startswith("ANYMAIL_"):
            settings.ANYMAIL = {**settings.ANYMAIL, name.removeprefix("ANYMAIL_"): value}
        elif name.startswith("MAIL_") or name == "CELERY_TASK_TIME_LIMIT":
            text = name in ("MAIL_MERGE_PLACEHOLDER", "MAIL_RECONCILE")
            setattr(settings, name, value if text else int(value))
            if name == "CELERY_TASK_TIME_LIMIT":  # as settings.py derives it
                settings.CELERY_TASK_SOFT_TIME_LIMIT = int(value) - 5


@pytest.fixture
def celery_worker(start_worker) -> subprocess.Popen:
    """A real `celery worker` process (two pool processes) with the test settings."""
    return start_worker()


def _reset_broker_pools(app) -> None:
    # Celery caches its connection and producer pools on first use; drop them so the next send uses
    # the broker URL just configured (the suite switches between eager mode and the real broker).
    from kombu import pools

    pools.reset()  # closes and forgets kombu's global connection/producer pools
    app._pool = None
    app.amqp._producer_pool = None


def wait_for(condition, *, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds.

    For waiting on another process (a worker) to reach a state. It asserts nothing about speed: the
    timeout only stops a broken run from hanging.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- Subscriptions: a real SMTP server, and the helpers of the visitor-flow tests --------------------


@pytest.fixture
def smtp_server(settings):
    """A real aiosmtpd server on 127.0.0.1; Django's SMTP backend sends every mail of the test to it.

    Read what arrived from `smtp_server.messages` (tests.smtp.ReceivedMail: envelope + parsed message).
    """
    from tests.smtp import SmtpServer

    server = SmtpServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    try:
        yield server
    finally:
        server.stop()


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


@dataclass
class PageForm:
    """A <form> of a page as a browser would submit it: its action, method and default fields."""

    action: str
    method: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # every named control, submitted or not

    def data(self, **changes) -> dict[str, list[str] | str]:
        """The fields a browser would send, with `changes` replacing some of them."""
        return {**self.fields, **changes}


class _FormParser(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[PageForm] = []
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {name: (value if value is not None else "") for name, value in attrs}
        if tag == "form":
            action = a.get("action") or self.page_url
            self.forms.append(PageForm(action=action, method=(a.get("method") or "get").lower()))
            return
        if not self.forms:
            return
        form, name = self.forms[-1], a.get("name")
        if tag == "input" and name:
            form.names.append(name)
            kind = a.get("type", "text").lower()
            if kind in {"checkbox", "radio"} and "checked" not in a:
                return
            if kind in {"submit", "button", "image", "reset"}:
                return
            form.fields.setdefault(name, []).append(
                a.get("value", "on" if kind == "checkbox" else "")
            )
        elif tag == "textarea" and name:
            form.names.append(name)
            form.fields.setdefault(name, []).append("")
        elif tag == "select" and name:
            form.names.append(name)
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            form.fields.setdefault(self._select, []).append(a.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def page_forms(response) -> list[PageForm]:
    """Every <form> of an HTML response, in document order."""
    parser = _FormParser(response.wsgi_request.path)
    parser.feed(response.content.decode(response.charset or "utf-8"))
    parser.close()
    return parser.forms


def page_form(response, action: str) -> PageForm:
    """The one form of the page that submits to `action`; fails the test if there is not exactly one."""
    found = [form for form in page_forms(response) if form.action == action]
    assert len(found) == 1, f"expected one form posting to {action}, found {len(found)}"
    return found[0]


def mailed_path(text: str, prefix: str) -> str:
    """The one site link under `prefix` (like "/confirm/") in a mail's text, as a path for the client."""
    import re

    from django.conf import settings

    found = set(re.findall(re.escape(settings.SITE_URL + prefix) + r"[^\s\"'<>]+/", text))
    assert len(found) == 1, f"expected one {prefix} link in the mail, found {sorted(found)}"
    return found.pop().removeprefix(settings.SITE_URL)


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


# --- The release fan-out: a fake ESP that workers send to, and subscribers to mail -------------------

ESP_DOMAIN = "mg.example"


@pytest.fixture
def fake_esp():
    """A fake Mailgun (tests/fake_esp.py) on 127.0.0.1: what workers started with
    esp_worker_env(fake_esp) send arrives there. Ask for it before `start_worker`, so the workers
    stop before it does."""
    from tests.fake_esp import FakeMailgun

    with FakeMailgun(domains=[ESP_DOMAIN]) as esp:
        yield esp


@pytest.fixture
def mailgun_here(settings):
    """A fake Mailgun that this process's own mail goes to, through anymail's Mailgun backend: for
    tests whose tasks run in-process (eager), unlike `fake_esp`, which is for workers."""
    from tests.fake_esp import FakeMailgun
    from tests.test_fake_esp import use_mailgun

    with FakeMailgun() as esp:
        use_mailgun(settings, esp.api_url, REQUESTS_TIMEOUT=10)
        yield esp


def esp_worker_env(esp, **extra) -> dict[str, str]:
    """start_worker() environment: anymail's real Mailgun backend with its API URL at `esp`, batches
    of 5, retries after 1-2 s, a 5 s client timeout; `extra` adds or replaces variables."""
    env = {
        "EMAIL_BACKEND": "subscriptions.esp.MailgunBatchBackend",  # MAIL_MERGE_PLACEHOLDER follows
        "TEST_EMAIL_BACKEND": "subscriptions.esp.MailgunBatchBackend",  # over test_settings' locmem
        "ANYMAIL_MAILGUN_API_KEY": esp.api_key,
        "ANYMAIL_MAILGUN_SENDER_DOMAIN": ESP_DOMAIN,
        "ANYMAIL_MAILGUN_API_URL": esp.api_url,
        "TEST_ANYMAIL_REQUESTS_TIMEOUT": "5",
        "MAIL_BATCH_SIZE": "5",
        "MAIL_RETRY_BASE_SECONDS": "1",
        "MAIL_RETRY_MAX_SECONDS": "2",
    }
    return {**env, **{name: str(value) for name, value in extra.items()}}


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


# --- Channels (announcements/): fixtures in tests/conftest_channels.py -------------------------------


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


from tests.conftest_channels import (  # noqa: E402, F401
    fake_reddit,
    fake_telegram,
    no_retry_floor,
    reddit_on,
    telegram_on,
    webhook_on,
    webhook_receiver,
)
