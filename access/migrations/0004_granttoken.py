# A grant's links move from one hash on the grant (replaced before each mail) to GrantToken rows (a
# link stays valid until a mail with a newer one was accepted). Reversible: going back keeps each
# grant's newest link.

import secrets

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def tokens_from_grants(apps, schema_editor):
    Grant = apps.get_model("access", "Grant")
    GrantToken = apps.get_model("access", "GrantToken")
    # A grant whose link was never issued holds a hash nobody knows: nothing to carry over.
    rows = Grant.objects.filter(link_sent_at__isnull=False).values_list(
        "pk", "token_hash", "link_sent_at"
    )
    GrantToken.objects.bulk_create(
        (
            GrantToken(grant_id=pk, token_hash=token_hash, created_at=sent, mailed_at=sent)
            for pk, token_hash, sent in rows.iterator(chunk_size=2000)
        ),
        batch_size=2000,
    )


def grants_from_tokens(apps, schema_editor):
    Grant = apps.get_model("access", "Grant")
    GrantToken = apps.get_model("access", "GrantToken")
    newest = {}
    for grant_id, token_hash in GrantToken.objects.order_by("pk").values_list(
        "grant_id", "token_hash"
    ):
        newest[grant_id] = token_hash
    for grant in Grant.objects.only("pk").iterator(chunk_size=2000):
        # Without a link: a random hash, as approval used to store (no token hashes to it).
        grant.token_hash = newest.get(grant.pk) or secrets.token_hex(32)
        grant.save(update_fields=["token_hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0003_artifactrevision_notice"),
    ]

    operations = [
        migrations.CreateModel(
            name="GrantToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token_hash", models.CharField(editable=False, max_length=64, unique=True)),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
                ("mailed_at", models.DateTimeField(blank=True, editable=False, null=True)),
                (
                    "grant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tokens",
                        to="access.grant",
                    ),
                ),
            ],
            options={"ordering": ["pk"]},
        ),
        # Nullable first, so that going back can add the column to existing rows, fill it, and
        # only then make it unique and required again.
        migrations.AlterField(
            model_name="grant",
            name="token_hash",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(tokens_from_grants, grants_from_tokens),
        migrations.RemoveField(model_name="grant", name="token_hash"),
        migrations.AlterField(
            model_name="grant",
            name="link_sent_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="Link last mailed"
            ),
        ),
    ]
