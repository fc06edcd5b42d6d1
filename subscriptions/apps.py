from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Subscriptions"

    def ready(self) -> None:
        # Connects the receiver of anymail's tracking signal: bounces, complaints, ESP unsubscribes.
        # Registers the deploy checks of the mail settings, and the log context of batch tasks (the
        # mailing and deliveries of a batch in its log lines, see mlmw.logs).
        from guide.publishing import version_published
        from subscriptions import audience, bounces, checks, digests, logcontext  # noqa: F401
        from subscriptions.models import Mailing

        # Every publish creates its mailing in the same transaction (see subscriptions.audience).
        version_published.connect(
            audience.on_version_published, dispatch_uid="subscriptions.create_mailing"
        )
        # Digests go out through the same batches and ledger, opened by beat (subscriptions.digests).
        # Their audience is a list, written in windows as a release's is.
        audience.register_kind(
            Mailing.Kind.DIGEST, window=digests.write_window, sender=digests.send
        )
