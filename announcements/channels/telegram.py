"""Telegram: the Bot API's sendMessage, with a small synchronous httpx client.

python-telegram-bot is asyncio-only; a Celery task needs one POST, so a plain client fits better.
"""

from __future__ import annotations

import logging

import httpx
from django.conf import settings

from announcements import texts
from announcements.channels.base import Channel, Posted, shorten
from announcements.models import Announcement, MovedTarget
from subscriptions.exceptions import SendFailure, retry_after_seconds

logger = logging.getLogger(__name__)

# Telegram's limit is 4096 characters of the parsed text; counting the HTML source (tags and
# entities too) in UTF-16 code units, as Telegram counts, stays under it whatever the content.
MESSAGE_LIMIT = 4096


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class Telegram(Channel):
    name = "telegram"
    label = "Telegram"
    # The Bot API cannot list a chat's messages, so a post whose outcome is unknown cannot be looked
    # for: it fails for a human to check rather than risk a second post.
    retries_unknown_outcome = False

    def __init__(self, token: str, chat_id: str, api_url: str, link_preview: bool) -> None:
        self.token = token
        self.chat_id = chat_id
        self.api_url = api_url.rstrip("/")
        self.link_preview = link_preview

    @classmethod
    def configured(cls) -> Telegram | None:
        if not (settings.TELEGRAM_BOT_TOKEN and settings.TELEGRAM_CHAT_ID):
            return None
        return cls(
            settings.TELEGRAM_BOT_TOKEN,
            settings.TELEGRAM_CHAT_ID,
            settings.TELEGRAM_API_URL,
            settings.TELEGRAM_LINK_PREVIEW,
        )

    @classmethod
    def off_reason(cls) -> str:
        return "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are not set"

    def targets(self) -> list[str]:
        return [self.chat_id]

    def message(self, announcement: Announcement) -> str:
        version = announcement.version
        count = version.entries.count()
        return shorten(
            lambda shown: texts.render("telegram", "message.html", version, shown),
            count,
            MESSAGE_LIMIT,
            size=utf16_length,
        )

    def post(self, announcement: Announcement) -> Posted:
        text = self.message(announcement)
        chat_id = MovedTarget.resolve(self.name, announcement.target)
        with httpx.Client(timeout=settings.CHANNEL_TIMEOUT, follow_redirects=False) as client:
            try:
                return self._send(client, chat_id, text)
            except _Moved as moved:
                # The group became a supergroup: Telegram names the new id. Post there from now on
                # (and say so, so the configuration can be updated), and resend once.
                MovedTarget.record(self.name, announcement.target, moved.new_id)
                logger.warning(
                    "Telegram chat %s moved to %s: posting there; set TELEGRAM_CHAT_ID=%s",
                    chat_id,
                    moved.new_id,
                    moved.new_id,
                )
                try:
                    return self._send(client, moved.new_id, text)
                except _Moved as again:
                    raise SendFailure(
                        f"chat {chat_id} moved to {moved.new_id}, which moved to {again.new_id}",
                        permanent=True,
                    ) from again

    def _send(self, client: httpx.Client, chat_id: str, text: str) -> Posted:
        url = f"{self.api_url}/bot{self.token}/sendMessage"
        payload = {
            "chat_id": chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": not self.link_preview},
        }
        try:
            response = client.post(url, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Nothing reached Telegram: safe to try again.
            raise SendFailure(
                f"cannot reach Telegram: {type(exc).__name__}", permanent=False
            ) from exc
        except httpx.HTTPError as exc:
            # Sent, but no answer (read timeout, dropped connection): it may have been posted.
            raise SendFailure(
                f"no answer from Telegram ({type(exc).__name__}): the message may have been posted;"
                " check the chat, then Retry if it is missing",
                permanent=True,
                unknown=True,
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 200 and body.get("ok"):
            return _posted(body.get("result") or {})
        return self._error(response, body, chat_id)

    def _error(self, response: httpx.Response, body: dict, chat_id: str):
        code = response.status_code
        description = str(body.get("description") or response.reason_phrase)[:300]
        parameters = body.get("parameters") or {}
        if code == 400 and parameters.get("migrate_to_chat_id"):
            raise _Moved(str(parameters["migrate_to_chat_id"]))
        if code == 429:
            # The wait is in the answer's parameters; the Retry-After header says the same.
            retry_after = parameters.get("retry_after")
            raise SendFailure(
                f"Telegram: {description}",
                permanent=False,
                retry_after=retry_after_seconds(
                    str(retry_after)
                    if retry_after is not None
                    else response.headers.get("Retry-After")
                ),
                throttled=True,
                response=response,
            )
        if code >= 500:
            # The Bot API may have posted before failing; it cannot be checked (see above).
            raise SendFailure(
                f"Telegram answered {code} ({description}): the message may have been posted;"
                " check the chat, then Retry if it is missing",
                permanent=True,
                unknown=True,
                response=response,
            )
        # 400 (text refused, chat not found), 401 (bad token), 403 (bot removed from the chat): a
        # retry gets the same answer.
        raise SendFailure(
            f"Telegram refused the post to {chat_id}: {code} {description}",
            permanent=True,
            response=response,
        )


class _Moved(Exception):
    def __init__(self, new_id: str) -> None:
        super().__init__(new_id)
        self.new_id = new_id


def _posted(message: dict) -> Posted:
    message_id = str(message.get("message_id", ""))
    chat = message.get("chat") or {}
    url = ""
    if chat.get("username"):
        url = f"https://t.me/{chat['username']}/{message_id}"
    elif str(chat.get("id", "")).startswith("-100"):
        url = f"https://t.me/c/{str(chat['id'])[4:]}/{message_id}"
    return Posted(external_id=message_id, url=url)


CHANNEL = Telegram
