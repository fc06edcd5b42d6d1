"""The release fan-out in the admin: Admins watch and operate mailings; Editors may see mailings.

Admins get view and change on mailings, batches, deliveries and baselines (change is what pause,
resume and cancel need; nothing is edited by hand). Editors publish, so they may follow what their
publish set off: view on mailings only. Deliveries and baselines name subscribers, which Editors never
see.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP_PERMISSIONS = {
    "Admins": [
        ("subscriptions", f"{action}_{model}")
        for model in ("mailing", "batch", "delivery", "baseline")
        for action in ("view", "change")
    ],
    "Editors": [("subscriptions", "view_mailing")],
}


def _permissions(apps, names):
    Permission = apps.get_model("auth", "Permission")
    return [
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in names
    ]


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create this app's now so the groups
    # can be given them in the same migrate.
    app_config = apps.get_app_config("subscriptions")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    for name, permissions in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps, permissions))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, permissions in GROUP_PERMISSIONS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, permissions))


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0002_admins_group"),
        ("guide", "0002_editors_group"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
