"""The Celery app, `mlmw.celery:app`. Configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery, Task, signals
from celery.worker.control import inspect_command
from django.db import InterfaceError, OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmw.settings")

app = Celery("mlmw")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue(task_name: str, *args: object, **options: object) -> None:
    """Enqueue a task by its name once the current transaction commits (at once outside one).

    Services enqueue through this and never import a tasks module (tasks import services, never
    the reverse). Looked up in the app's registry, so the in-process mode of `make run` (no
    broker, tasks run eagerly) runs it too, which `send_task` would not.
    """
    from django.db import transaction

    task = task_named(task_name)  # a wrong name fails here, not in the robust on-commit hook

    def send() -> None:
        task.apply_async(args, **options)

    transaction.on_commit(send, robust=True)


def task_named(name: str) -> Task:
    """The registered task of that name, in any process (KeyError: no such task)."""
    if name not in app.tasks:
        # Workers import every app's tasks module at start; other processes (web, make run,
        # management commands) on the first use of a task not yet imported.
        app.loader.import_default_modules()
    return app.tasks[name]


@signals.setup_logging.connect
def use_django_logging(loglevel=None, **kwargs) -> None:
    """Workers and beat log through settings.LOGGING (text or JSON, with the task context) instead
    of Celery's own handlers; connecting this signal is what stops Celery from installing those."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


# What a statement on a lost connection raises (PostgreSQL restarted, failed over, or terminated the
# backend). Tasks retry on these (DATABASE_RETRY); the retry starts on a working connection
# (heal_database_connections).
DATABASE_ERRORS = (OperationalError, InterfaceError)

# The retry of every task that reads or writes the database.
DATABASE_RETRY = {
    "autoretry_for": DATABASE_ERRORS,
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 40,  # ~15 min of backoff capped at 30 s; the sweepers cover what is left
}


@signals.task_prerun.connect
def heal_database_connections(task=None, **extra) -> None:
    """Close this process's database connections that are broken or too old before each task.

    What Django does at the start of each request, and Celery's fixup only every
    CELERY_DB_REUSE_MAX tasks: a connection that raised an error is checked (SELECT 1) and closed
    if dead, and the health check (conn_health_checks) runs again on its first use. Without it a
    pool process whose connection died (PostgreSQL restarted, its backend terminated) fails every
    later task at once until it has run CELERY_DB_REUSE_MAX of them.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return  # in-process: the caller's connection and transaction, not ours to close
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()


@inspect_command()
def database(state) -> dict[str, str]:
    """`celery inspect database`: whether this worker reaches the database (the compose health
    check). A connection of its own, closed at once: the main process forks pool processes and
    must not hand them an open socket."""
    from django.db import connections

    conn = connections.create_connection("default")
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # the reply says what went wrong
        return {"database": f"unreachable: {type(exc).__name__}"}
    finally:
        conn.close()
    return {"database": "ok"}


@signals.task_prerun.connect
def bind_task_log_context(task_id=None, task=None, args=None, kwargs=None, **extra) -> None:
    # Every record logged while the task runs names the task and the ids it was given.
    from mlmw import logs

    logs.task_started(task_id, logs.task_fields(task, args, kwargs))


@signals.task_postrun.connect
def unbind_task_log_context(task_id=None, **extra) -> None:
    from mlmw import logs

    logs.task_finished(task_id)
