"""Services enqueue tasks by name (mlmw.celery.enqueue): a process that never imported an app's
tasks module (the web, `make run`, a management command) still finds every task."""

import os
import subprocess
import sys

import pytest

TASK_NAMES = [
    "announcements.tasks.post_announcement",
    "access.tasks.send_verification",
    "access.tasks.send_grant_link",
    "access.tasks.send_denial",
]

PROGRAM = """
import sys
import django
django.setup()
from mlmw.celery import task_named
already = [n for n in sys.argv[1:] if n.rsplit(".", 1)[0] in sys.modules]
assert not already, f"imported before the lookup: {already}"
for name in sys.argv[1:]:
    print(task_named(name).name)
"""


def test_a_process_that_imported_no_tasks_module_finds_each_task_by_name():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mlmw.settings", "DEBUG": "true"}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *TASK_NAMES],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == TASK_NAMES


def test_an_unknown_task_name_is_an_error_not_a_silent_no_op():
    from mlmw.celery import task_named

    with pytest.raises(KeyError):
        task_named("announcements.tasks.no_such_task")
