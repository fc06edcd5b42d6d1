"""The Celery app, `mlmw.celery:app`. Configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmw.settings")

app = Celery("mlmw")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def use_django_logging(loglevel=None, **kwargs) -> None:
    """Workers and beat log through settings.LOGGING (text or JSON, with the task context) instead
    of Celery's own handlers; connecting this signal is what stops Celery from installing those."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def bind_task_log_context(task_id=None, task=None, args=None, kwargs=None, **extra) -> None:
    # Every record logged while the task runs names the task and the ids it was given.
    from mlmw import logs

    logs.task_started(task_id, logs.task_fields(task, args, kwargs))


@signals.task_postrun.connect
def unbind_task_log_context(task_id=None, **extra) -> None:
    from mlmw import logs

    logs.task_finished(task_id)
