from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Subscriptions"

    def ready(self) -> None:
        # Connects the receiver of anymail's tracking signal: bounces, complaints, ESP unsubscribes.
        # Registers the deploy checks of the mail settings.
        from subscriptions import bounces, checks  # noqa: F401
