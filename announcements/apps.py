from django.apps import AppConfig


class AnnouncementsConfig(AppConfig):
    name = "announcements"
    verbose_name = "Announcements"

    def ready(self) -> None:
        from announcements import posting
        from guide.publishing import version_published

        # Every publish writes its announcements in the same transaction (see announcements.posting).
        version_published.connect(
            posting.on_version_published, dispatch_uid="announcements.create_announcements"
        )
