"""Deploy checks (`manage.py check --deploy`) for what the mail features need in production."""

from __future__ import annotations

from email.utils import parseaddr

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

# Domains reserved for documentation and tests (RFC 2606, RFC 6761): nobody receives mail there,
# and mailbox providers judge a sender that names one.
_RESERVED = (".example", ".test", ".invalid", ".localhost")
_EXAMPLE_DOMAINS = {"example.com", "example.net", "example.org", "localhost"}


def is_example_domain(domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    return domain in _EXAMPLE_DOMAINS or domain.endswith(_RESERVED) or "." not in domain


@register(Tags.security, deploy=True)
def check_mail_identity(app_configs, **kwargs) -> list[Error]:
    """In production, mail must name a domain that exists: the From address, List-Id and Reply-To."""
    if settings.DEBUG:
        return []
    named = {
        "DEFAULT_FROM_EMAIL": parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2],
        "LIST_ID": settings.LIST_ID.rpartition("<")[2].rstrip(">").strip(),
    }
    if settings.REPLY_TO:
        named["REPLY_TO"] = parseaddr(settings.REPLY_TO)[1].rpartition("@")[2]
    return [
        Error(
            f"{name} names {domain or 'no domain'!r}, a domain reserved for examples: production "
            "mail would go out under a domain nobody owns. Set it to your own domain.",
            id="mlmw.E001",
        )
        for name, domain in named.items()
        if is_example_domain(domain)
    ]


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
