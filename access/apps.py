from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access on request"

    def ready(self) -> None:
        # Requests and grants are personal data kept under an address: the subscriber's export shows
        # them and erasure removes them (see subscriptions.lifecycle.register_personal_data).
        from access import lifecycle, notices, privacy
        from subscriptions import form_requests
        from subscriptions.audience import register_kind
        from subscriptions.lifecycle import PersonalData, register_personal_data
        from subscriptions.models import Mailing

        register_personal_data(
            "access_requests", PersonalData(export=privacy.export, erase=privacy.erase)
        )
        # The request form's submissions are decided as the subscribe form's are (form_requests).
        form_requests.register(form_requests.ACCESS, lifecycle.request_from_form)
        # "New revision" notices go out through the release pipeline's batches and ledger.
        register_kind(
            Mailing.Kind.ACCESS_REVISION, audience=notices.audience, sender=notices.send_notices
        )
