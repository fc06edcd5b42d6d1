from django.db import migrations


def set_fillfactor(apps, schema_editor, value=60):
    # Room on each page for the new versions of rows a digest moves (digest_after, in no index):
    # HOT updates, no index writes (see models.Subscriber.digest_after).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE subscriptions_subscriber SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor):
    set_fillfactor(apps, schema_editor, value=100)


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0016_form_requests"),
    ]

    operations = [
        migrations.RunPython(set_fillfactor, reset_fillfactor),
    ]
