from django.apps import AppConfig


class GuideConfig(AppConfig):
    name = "guide"
    verbose_name = "Guides and versions"

    def ready(self) -> None:
        from guide import search
        from guide.publishing import version_published

        # The search index changes in the publish's own transaction: current the moment it commits.
        version_published.connect(search.on_version_published, dispatch_uid="guide.search.reindex")
