"""Form requests go through the outbox of one-off tasks: each undecided FormRequest becomes the
QueuedTask row of its process_form_request task, due at once (the sweeper publishes it), keeping
its age for the give-up limit."""

import uuid

from django.db import migrations
from django.utils import timezone

PROCESS_TASK = "subscriptions.tasks.process_form_request"


def to_queued_tasks(apps, schema_editor):
    FormRequest = apps.get_model("subscriptions", "FormRequest")
    QueuedTask = apps.get_model("subscriptions", "QueuedTask")
    now = timezone.now()
    QueuedTask.objects.bulk_create(
        (
            QueuedTask(
                task_id=uuid.uuid4(),
                name=PROCESS_TASK,
                args=[request.kind, request.payload],
                email_key=request.email_key,
                created_at=request.created_at,
                available_at=now,
            )
            for request in FormRequest.objects.order_by("pk").iterator()
        ),
        batch_size=1000,
    )


def to_form_requests(apps, schema_editor):
    FormRequest = apps.get_model("subscriptions", "FormRequest")
    QueuedTask = apps.get_model("subscriptions", "QueuedTask")
    rows = QueuedTask.objects.filter(name=PROCESS_TASK)
    FormRequest.objects.bulk_create(
        (
            FormRequest(
                kind=kind, payload=payload, email_key=email_key, created_at=created_at,
                enqueued_at=created_at,
            )  # fmt: skip
            for (kind, payload), email_key, created_at in rows.order_by("pk").values_list(
                "args", "email_key", "created_at"
            )
        ),
        batch_size=1000,
    )
    rows.delete()


class Migration(migrations.Migration):

    dependencies = [
        ("subscriptions", "0018_queued_tasks"),
    ]

    operations = [
        migrations.RunPython(to_queued_tasks, to_form_requests),
        migrations.DeleteModel(name="FormRequest"),
    ]
