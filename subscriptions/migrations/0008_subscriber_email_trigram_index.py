"""A trigram index on subscribers' addresses, so the admin's search by any part of an address reads the
index instead of every row (PostgreSQL; SQLite under make run scans, which is fine at its sizes)."""

from django.db import migrations

UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # The expression Django's icontains lookup compares: UPPER("email"::text) LIKE UPPER('%…%').
    "CREATE INDEX IF NOT EXISTS subscriber_email_trgm "
    "ON subscriptions_subscriber USING gin (UPPER(email::text) gin_trgm_ops)",
]
DOWN = ["DROP INDEX IF EXISTS subscriber_email_trgm"]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0007_access_revision_mailings")]

    operations = [migrations.RunPython(_run(UP), _run(DOWN))]
