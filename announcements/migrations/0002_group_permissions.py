"""Editors and Admins see announcements and may Retry failed ones (the change permission; nothing is
edited by hand). Editors publish, so the posts their publish set off are theirs to follow."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSIONS = [("announcements", f"{action}_announcement") for action in ("view", "change")]
GROUPS = ("Editors", "Admins")


def _permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    return [
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in PERMISSIONS
    ]


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create this app's now.
    app_config = apps.get_app_config("announcements")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for name in GROUPS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("announcements", "0001_initial"),
        ("guide", "0002_editors_group"),
        ("subscriptions", "0002_admins_group"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
