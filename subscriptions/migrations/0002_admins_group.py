"""The Admins group: manages subscribers (list, import, export, unsubscribe, erase) and may read guides.

Editors get nothing of subscriptions: addresses are personal data, seen only by those who run the list.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADMIN_PERMISSIONS = [
    ("subscriptions", f"{action}_{model}")
    for model in ("subscriber", "subscriberevent", "suppressedaddress")
    for action in ("view", "add", "change", "delete")
] + [("guide", f"view_{model}") for model in ("guide", "version", "changelogentry")]


def create_admins(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create both apps' now so the group
    # can be given them in the same migrate.
    for label in ("guide", "subscriptions"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admins, _ = Group.objects.get_or_create(name="Admins")
    for app_label, codename in ADMIN_PERMISSIONS:
        admins.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def remove_admins(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Admins").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0001_initial"),
        ("guide", "0002_editors_group"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_admins, remove_admins)]
