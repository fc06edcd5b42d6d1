"""What every mail carries for mailbox providers and the ESP, by its kind ("release", "confirm",
"access_granted"…): the kind as the ESP's tag and in Feedback-ID (Gmail's feedback loop reports
complaints per kind), Reply-To where a reader may answer a person (REPLY_TO: release and access
mails), the ESP stream (Postmark wants newsletters in a broadcast stream, apart from transactional
mail), and over SMTP a Message-ID on the From domain (Django's names the host: @localhost or a
container id). ESPs set their own Message-ID.
"""

from __future__ import annotations

from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.core.mail import EmailMessage

# Mail sent to the list as such: the ESP's broadcast stream. Everything else is transactional.
BROADCAST = frozenset({"release", "digest"})


def replies_go_to_a_person(kind: str) -> bool:
    return kind in BROADCAST or kind.startswith("access_")


def from_domain() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2].lower()


def identify(message: EmailMessage, kind: str) -> EmailMessage:
    """Stamp `message` as a mail of `kind` (see the module docstring); returns it."""
    message.tags = [kind]  # anymail: Postmark's Tag, Mailgun's o:tag
    message.extra_headers["Feedback-ID"] = f"{kind}:{settings.FEEDBACK_ID_SENDER}"
    if settings.REPLY_TO and replies_go_to_a_person(kind):
        message.reply_to = [settings.REPLY_TO]
    backend = settings.EMAIL_BACKEND
    if "postmark" in backend:
        stream = (
            settings.POSTMARK_BROADCAST_STREAM
            if kind in BROADCAST
            else settings.POSTMARK_TRANSACTIONAL_STREAM
        )
        message.esp_extra = {"MessageStream": stream}
    if not backend.startswith(("anymail.", "subscriptions.esp.")) and len(message.to) == 1:
        message.extra_headers.setdefault("Message-ID", make_msgid(domain=from_domain()))
    return message
