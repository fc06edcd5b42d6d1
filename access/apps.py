from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access on request"

    def ready(self) -> None:
        # Requests and grants are personal data kept under an address: the subscriber's export shows
        # them and erasure removes them (see subscriptions.lifecycle.register_personal_data).
        from access import privacy
        from subscriptions.lifecycle import PersonalData, register_personal_data

        register_personal_data(
            "access_requests", PersonalData(export=privacy.export, erase=privacy.erase)
        )
