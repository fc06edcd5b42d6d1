"""A worker whose PostgreSQL connections were lost heals them by itself.

PostgreSQL restarts, fails over, or an operator terminates backends: every pool process of a running
worker is then holding a dead connection. Each task starts by closing a connection that is broken
(mlmw.celery.heal_database_connections), a task that loses its connection midway is retried on
a new one, and the ledger write after the ESP took a batch is written again on a new connection, so
the next mailing goes out as if nothing happened and a mailing under way sends nobody twice. The real stack of
tests/test_fanout_worker.py, with beat in the worker so the sweepers run as in production.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from guide import publishing
from subscriptions.models import Delivery, Mailing
from tests.conftest import MLMW_0_10_1, ROOT, make_subscribers, make_version
from tests.esp import esp_worker_env
from tests.services import TEST_REDIS_URL, wait_for

pytestmark = [pytest.mark.worker]

LEASE = 11  # the shortest lease the settings allow (above the 10 s hard time limit)
SWEEP = 2
TIMINGS = {
    "CELERY_TASK_TIME_LIMIT": 10,
    "MAIL_BATCH_LEASE_SECONDS": LEASE,
    "MAIL_SWEEP_INTERVAL": SWEEP,
    "MAIL_REQUEUE_AFTER_SECONDS": 5,
}


def terminate_worker_backends() -> int:
    """What a PostgreSQL restart does to a worker: every other session of the test database ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def worker_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_a_publish_after_the_workers_connections_were_terminated_is_mailed_within_a_lease_and_two_sweeps(
    fake_esp, start_worker, draft
):
    readers = make_subscribers(draft.guide, "reader", 25)
    start_worker(beat=True, **esp_worker_env(fake_esp, **TIMINGS))
    publishing.publish(draft)
    wait_for(lambda: Mailing.objects.filter(version=draft, status="done").exists(), what="0.10.1")
    wait_for(lambda: worker_backends() >= 2, what="both pool processes to hold a connection")

    assert terminate_worker_backends() >= 2  # the worker idles on dead connections now
    following = make_version(draft.guide, "0.10.2", MLMW_0_10_1 + "\nOne more line.\n")
    published = time.monotonic()
    publishing.publish(following)
    mailing = wait_for(
        lambda: Mailing.objects.filter(version=following, status="done").first(),
        timeout=LEASE + 2 * SWEEP + 30,
        what="the mailing published after the termination to finish",
    )
    took = time.monotonic() - published

    assert took <= LEASE + 2 * SWEEP
    second = [m.to for b in fake_esp.batches[5:] for m in b.messages]
    # What each mailing's deliveries came to, shown if the ESP's calls are not as expected.
    outcome = list(
        Delivery.objects.values_list("mailing__version__number", "status", "error")
        .annotate(count=Count("pk"))
        .order_by("mailing__version__number", "status")
    )
    assert sorted(second) == sorted(r.email for r in readers), (len(fake_esp.batches), outcome)
    assert set(Delivery.objects.filter(mailing=mailing).values_list("status", flat=True)) == {
        "sent"
    }


def health_check(worker, *, answer_only: bool = False) -> subprocess.CompletedProcess:
    """docker-compose.yml's worker health check, run against this worker (its node name for
    celery@$HOSTNAME) and the test broker; answer_only: its first command, whose output the
    check reads."""
    compose = (ROOT / "docker-compose.yml").read_text()
    worker_section = compose[compose.index("\n  worker:") : compose.index("\n  beat:")]
    [flow] = re.findall(r"^ +test: (\[.*\])$", worker_section, re.MULTILINE)
    kind, command = json.loads(flow)  # a YAML flow sequence of double-quoted strings is JSON
    assert kind == "CMD-SHELL"
    command = command.replace("celery@$$HOSTNAME", worker.node_name).replace("$$", "$")
    if answer_only:
        command = command.split(" | ")[0]
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "mlmw.test_settings",
        "CELERY_BROKER_URL": TEST_REDIS_URL,
    }
    return subprocess.run(
        ["/bin/sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_worker_health_check_passes_only_while_the_worker_reaches_postgresql(start_worker):
    worker = start_worker(concurrency=1)
    wait_for(lambda: health_check(worker).returncode == 0, what="the health check to pass")
    worker.terminate()
    worker.wait(timeout=30)

    cut_off = start_worker(concurrency=1, DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere")
    wait_for(
        lambda: "unreachable" in health_check(cut_off, answer_only=True).stdout,
        what="the worker's answer",
    )
    assert health_check(cut_off).returncode != 0


def test_a_ledger_write_on_a_terminated_connection_is_written_again_and_nobody_is_mailed_twice(
    fake_esp, start_worker, draft
):
    # Both pool processes are at the ESP with a batch when PostgreSQL drops their connections; the
    # ESP then takes both batches. Recording them must not fail into a resend (the ESP is not asked
    # here: MAIL_RECONCILE=off, so only the ledger's own retry keeps them single).
    readers = make_subscribers(draft.guide, "reader", 25)
    fake_esp.script([("hold",), ("hold",)])
    start_worker(**esp_worker_env(fake_esp, MAIL_RECONCILE="off", TEST_ANYMAIL_REQUESTS_TIMEOUT=30))
    publishing.publish(draft)
    held = wait_for(
        lambda: len(found := [a for a in fake_esp.attempts if a.status is None]) == 2 and found,
        what="two batches at the ESP",
    )
    assert terminate_worker_backends() >= 2
    fake_esp.release()
    mailing = wait_for(
        lambda: Mailing.objects.filter(version=draft, status="done").first(),
        what="the mailing to finish",
    )

    assert all(a.status == 200 for a in held)
    assert sorted(fake_esp.recipients()) == sorted(r.email for r in readers)  # once each
    assert set(Delivery.objects.filter(mailing=mailing).values_list("status", flat=True)) == {
        "sent"
    }
