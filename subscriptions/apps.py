from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Subscriptions"

    def ready(self) -> None:
        # Connects the receiver of anymail's tracking signal: bounces, complaints, ESP unsubscribes.
        # Registers the deploy checks of the mail settings, and the log context of batch tasks (the
        # mailing and deliveries of a batch in its log lines, see mlmw.logs), and the `any_of`
        # lookup the fan-out reads and marks its batches with (subscriptions.lookups).
        from guide.publishing import version_published
        from subscriptions import (  # noqa: F401
            audience,
            bounces,
            checks,
            digests,
            form_requests,
            lifecycle,
            logcontext,
            lookups,
            queued_tasks,
        )
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
        # A queued task not yet done (a mail not sent, a form request not decided) holds the address
        # key of whom it mails.
        lifecycle.register_personal_data(
            "queued",
            lifecycle.PersonalData(export=queued_tasks.export, erase=queued_tasks.erase),
        )
