"""Who may do what with access on request.

Admins: everything, for every guide (`review_all`), and they assign Reviewers. Editors: artifacts,
revisions, requests and grants of the guides they are Reviewers of (the admin filters by that), so an
editor reviews requests for their guides only; they may not assign themselves to other guides.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = ("artifact", "artifactrevision", "accessrequest", "grant", "download")
GROUP_PERMISSIONS = {
    "Admins": [
        ("access", f"{action}_{model}")
        for model in (*MODELS, "reviewer")
        for action in ("view", "add", "change", "delete")
    ]
    + [("access", "review_all")],
    "Editors": [
        ("access", f"{action}_{model}")
        for model in ("artifact", "artifactrevision")
        for action in ("view", "add", "change", "delete")
    ]
    + [("access", f"{action}_{model}") for model in ("accessrequest", "grant") for action in ("view", "change")]
    + [("access", "view_download")],
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
    app_config = apps.get_app_config("access")
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
        ("access", "0001_initial"),
        ("subscriptions", "0003_admins_mailings"),
        ("guide", "0002_editors_group"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
