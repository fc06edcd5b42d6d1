"""Deploy checks (`manage.py check --deploy`) for what the mail features need in production."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_mail_settings(app_configs, **kwargs) -> list[Warning]:
    warnings = []
    if not settings.SITE_URL.startswith("https://"):
        warnings.append(
            Warning(
                "SITE_URL is not https://: mail links would be plain HTTP, and RFC 8058 one-click "
                "unsubscribe requires an HTTPS List-Unsubscribe URL.",
                id="mlmw.W001",
            )
        )
    if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        warnings.append(
            Warning(
                "ANYMAIL_WEBHOOK_SECRET is not set: anyone could post fake bounces and complaints "
                "to /anymail/…/tracking/.",
                id="mlmw.W002",
            )
        )
    if settings.SUPPRESSION_KEY_IS_DERIVED:
        warnings.append(
            Warning(
                "SUPPRESSION_KEY is not set, so it derives from SECRET_KEY: rotating SECRET_KEY would "
                "silently empty the suppression list of erased addresses.",
                id="mlmw.W003",
            )
        )
    return warnings
