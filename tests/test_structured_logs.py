"""Every log line of a task names the task, its id, and the mailing / batch / deliveries it works on.

In-process: real tasks run through Celery's own tracer (task_prerun/task_postrun signals), their
records captured by a handler with the project's filter and formatters. Then a real worker process
with LOG_FORMAT=json: its own log output, line by line.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from guide import publishing
from mlmw import logs
from subscriptions import audience, lifecycle
from subscriptions.models import Batch, Mailing, Subscriber
from subscriptions.tasks import send_batch, start_mailing
from tests.conftest import make_subscribers
from tests.esp import esp_worker_env
from tests.services import wait_for
from tests.settings_process import load_settings


class Captured:
    def __init__(self, formatter: logging.Formatter) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.addFilter(logs.ContextFilter())
        self.handler.setFormatter(formatter)

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def json(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def captured():
    """Records of the subscriptions loggers while the test runs, formatted as LOG_FORMAT=json would."""
    capture = Captured(logs.JsonFormatter())
    target = logging.getLogger("subscriptions")
    level = target.level
    target.addHandler(capture.handler)
    target.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        target.removeHandler(capture.handler)
        target.setLevel(level)


@pytest.fixture
def mailing(draft, django_capture_on_commit_callbacks) -> Mailing:
    """A published release with twelve readers and its batches cut (of 5), nothing sent yet."""
    make_subscribers(draft.guide, "reader", 12)
    with django_capture_on_commit_callbacks(execute=False):
        publishing.publish(draft)
    mailing = Mailing.objects.get(version=draft)
    return mailing


def test_a_batch_tasks_lines_name_the_task_the_batch_its_mailing_and_its_deliveries(
    mailing, captured, settings
):
    settings.MAIL_BATCH_SIZE = 5
    audience.start(mailing.pk)
    batch = Batch.objects.filter(mailing=mailing).first()
    # Claimed once more than allowed: the task gives the batch up and logs an error saying so.
    Batch.objects.filter(pk=batch.pk).update(attempts=settings.MAIL_BATCH_MAX_ATTEMPTS)

    result = send_batch.apply(args=(batch.pk,))

    [line] = [entry for entry in captured.json() if "failed for good" in entry["message"]]
    assert line["level"] == "ERROR" and line["logger"] == "subscriptions.delivery"
    assert line["task_name"] == "subscriptions.tasks.send_batch"
    assert line["task_id"] == result.id
    assert line["batch_id"] == batch.pk
    assert line["mailing_id"] == mailing.pk
    assert (line["first_delivery_id"], line["last_delivery_id"]) == (
        batch.first_delivery_id,
        batch.last_delivery_id,
    )


def test_a_mailing_tasks_lines_name_the_mailing_and_nested_tasks_keep_their_own(
    mailing, captured, settings
):
    settings.MAIL_BATCH_SIZE = 5

    result = start_mailing.apply(args=(mailing.pk,))  # sends its three batches in-process (eager)

    [started] = [entry for entry in captured.json() if "written" in entry["message"]]
    assert started["task_name"] == "subscriptions.tasks.start_mailing"
    assert started["task_id"] == result.id and started["mailing_id"] == mailing.pk
    assert "batch_id" not in started
    # Once the tasks are over, nothing is bound any more.
    assert logs.current() == {}
    logging.getLogger("subscriptions.delivery").info("after the task")
    assert "task_id" not in captured.json()[-1]


def test_the_text_format_appends_the_context_to_the_line():
    capture = Captured(logs.TextFormatter())
    logger = logging.getLogger("mlmw.tests.text")
    logger.addHandler(capture.handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with logs.bind(task_name="subscriptions.tasks.send_batch", task_id="t-1", batch_id=7):
            logger.info("batch %s: sent", 7)
        logger.info("outside")
    finally:
        logger.removeHandler(capture.handler)
        logger.propagate = True

    inside, outside = capture.lines
    assert inside.endswith(
        "INFO mlmw.tests.text batch 7: sent "
        "[task_name=subscriptions.tasks.send_batch task_id=t-1 batch_id=7]"
    )
    assert outside.endswith("INFO mlmw.tests.text outside")


def test_the_json_format_keeps_extra_fields_and_the_exception():
    capture = Captured(logs.JsonFormatter())
    logger = logging.getLogger("mlmw.tests.json")
    logger.addHandler(capture.handler)
    logger.propagate = False
    try:
        with logs.bind(announcement_id=3):
            try:
                raise ValueError("chat not found")
            except ValueError:
                logger.exception("post failed", extra={"channel": "telegram"})
    finally:
        logger.removeHandler(capture.handler)
        logger.propagate = True

    [entry] = capture.json()
    assert entry["message"] == "post failed" and entry["level"] == "ERROR"
    assert entry["announcement_id"] == 3 and entry["channel"] == "telegram"
    assert "ValueError: chat not found" in entry["exception"]


# --- A real worker's own output -------------------------------------------------------------------


@pytest.fixture
def worker_log(tmp_path, monkeypatch) -> Path:
    """The log file of the workers this test starts (asked for before start_worker)."""
    path = tmp_path / "worker.log"
    monkeypatch.setenv("TEST_WORKER_LOG", str(path))
    return path


@pytest.mark.worker
def test_a_real_workers_json_lines_carry_the_task_and_the_mailing_ids(
    worker_log, fake_esp, start_worker, draft
):
    make_subscribers(draft.guide, "reader", 7)
    fake_esp.script([("status", 500)])  # one batch is retried: the worker logs a warning for it
    start_worker(LOG_FORMAT="json", **esp_worker_env(fake_esp))

    publishing.publish(draft)
    mailing = wait_for(
        lambda: Mailing.objects.filter(version=draft, status=Mailing.Status.DONE).first(),
        what="the mailing to finish",
    )

    entries = []
    for line in worker_log.read_text().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    [started] = [
        e for e in entries if e["message"].startswith(f"mailing {mailing.pk}: subscribers")
    ]
    assert started["task_name"] == "subscriptions.tasks.start_mailing"
    assert started["mailing_id"] == mailing.pk and started["task_id"]
    [retry] = [e for e in entries if "ESP answered 500" in e["message"]]
    batch = Batch.objects.get(pk=retry["batch_id"])
    assert retry["level"] == "WARNING" and retry["task_name"] == "subscriptions.tasks.send_batch"
    assert retry["mailing_id"] == mailing.pk and batch.mailing_id == mailing.pk
    assert (retry["first_delivery_id"], retry["last_delivery_id"]) == (
        batch.first_delivery_id,
        batch.last_delivery_id,
    )
    # Every line a task logged while running names that task.
    in_tasks = [e for e in entries if e["logger"].startswith("subscriptions.")]
    assert in_tasks and all(e.get("task_id") and e.get("task_name") for e in in_tasks)


# --- Configuration from the environment ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml' must be text or json."),
        ("LOG_LEVEL", "loud", "LOG_LEVEL='LOUD' must be DEBUG, INFO, WARNING, ERROR or CRITICAL."),
    ],
)
def test_a_log_setting_that_is_not_understood_stops_the_process_naming_it(variable, value, message):
    result = load_settings({"DEBUG": "true", variable: value})

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"django.core.exceptions.ImproperlyConfigured: {message}"
    )


def test_log_format_json_selects_the_json_formatter_for_every_line():
    result = load_settings(
        {"DEBUG": "true", "LOG_FORMAT": "json", "LOG_LEVEL": "warning"},
        "[settings.LOGGING['handlers']['console'], settings.LOGGING['root']]",
    )

    handler, root = json.loads(result.stdout)
    assert handler == {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["context"],
    }
    assert root == {"handlers": ["console"], "level": "WARNING"}


PROBE = """
import logging
from mlmw.celery import app

@app.task(name="probe")
def probe():
    return "ran"

logging.getLogger("django.request").warning("Not Found: /probe")
print(probe.delay().get())
"""


def test_make_runs_console_prints_a_django_record_once_and_no_broker_warning():
    """DEBUG=true and no broker, as `make run`: Django's own console handler used to print every
    django.* record a second time, and eager tasks made kombu warn about a missing hostname."""
    result = load_settings({"DEBUG": "true"}, f"exec({PROBE!r})")

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["ran", "null"]
    lines = result.stderr.splitlines()
    assert [line.split(" ", 2)[2] for line in lines if "/probe" in line] == [
        "WARNING django.request Not Found: /probe"
    ]
    assert "No hostname was supplied" not in result.stderr


def test_a_queued_mail_tasks_lines_name_the_ids_its_row_holds(
    guide, captured, mailgun_here, django_capture_on_commit_callbacks
):
    mailgun_here.script([("status", 400)])  # refused for good: the task logs an error
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.subscribe("ann@example.org", guides=[guide])

    [line] = [entry for entry in captured.json() if "not sent, for good" in entry["message"]]
    assert line["task_name"] == "subscriptions.tasks.send_confirmation"
    assert line["subscriber_id"] == Subscriber.objects.get(email="ann@example.org").pk
