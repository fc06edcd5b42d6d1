"""Reddit: a link (or self) post in the configured subreddit, through Reddit's OAuth API (a script app).

Three plain httpx calls (the password-grant token, /api/submit, our submissions listing) rather than
PRAW: PRAW's sessions retry a POST on 5xx and timeouts, repeating a submit that reached Reddit, and no
public setting turns that off; we use none of its models.

Reddit's submit cannot be made idempotent, so the post is guarded three ways against a second copy:
the client never retries by itself; before every retry, our account's recent submissions are searched
for this release (find()); and link posts are sent with resubmit=false, so Reddit itself refuses the
same link twice in the subreddit (ALREADY_SUB), which find() then settles.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings

from announcements import texts
from announcements.channels.base import Channel, Posted, shorten
from subscriptions.exceptions import SendFailure, retry_after_seconds

if TYPE_CHECKING:
    from announcements.models import Announcement

logger = logging.getLogger(__name__)

TITLE_LIMIT = 300
SELF_TEXT_LIMIT = 40000
# How far back find() looks in our account's submissions (newest first).
FIND_LIMIT = 25
_WAIT = re.compile(r"(\d+)\s*(millisecond|second|minute|hour)s?", re.IGNORECASE)
_UNIT_SECONDS = {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600}
_POST_URL = re.compile(r"https?://\S+/comments/\w+\S*")


class Client:
    """One login to Reddit's API (OAuth password grant of a script app) and the calls made with it.

    Every failure is a SendFailure; nothing is retried here (a retry is the task's, after find()).
    """

    def __init__(self) -> None:
        self.http = httpx.Client(
            timeout=settings.CHANNEL_TIMEOUT,
            follow_redirects=False,
            headers={"User-Agent": settings.REDDIT_USER_AGENT},
        )
        self.token = ""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()

    def login(self) -> None:
        """A bearer token for our account; bad credentials are permanent."""
        answer = _json(
            self._send(
                "POST",
                settings.REDDIT_URL.rstrip("/") + "/api/v1/access_token",
                auth=(settings.REDDIT_CLIENT_ID, settings.REDDIT_CLIENT_SECRET),
                data={
                    "grant_type": "password",
                    "username": settings.REDDIT_USERNAME,
                    "password": settings.REDDIT_PASSWORD,
                },
            ),
            login=True,
        )
        if not answer.get("access_token"):
            error = answer.get("error") or f"no token in {answer!r:.200}"
            raise SendFailure(f"Reddit refused the login: {error}", permanent=True)
        self.token = str(answer["access_token"])

    def call(
        self, method: str, path: str, *, params: dict | None = None, data: dict | None = None
    ) -> dict[str, Any]:
        """One API call as our account; its JSON answer."""
        if not self.token:
            self.login()
        return _json(
            self._send(
                method,
                f"{settings.REDDIT_OAUTH_URL.rstrip('/')}/{path.lstrip('/')}",
                # raw_json: titles come back as sent ("&", not "&amp;"), for find() to compare.
                params={**(params or {}), "raw_json": 1},
                data={**data, "api_type": "json"} if data is not None else None,
                headers={"Authorization": f"bearer {self.token}"},
            )
        )

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise SendFailure(
                f"no answer from Reddit: {type(exc).__name__}", permanent=False
            ) from exc
        except httpx.HTTPError as exc:
            # Sent, but no answer: a submit may have reached Reddit, which find() settles.
            raise SendFailure(
                f"no answer from Reddit: {type(exc).__name__}", permanent=False, unknown=True
            ) from exc


def _json(response: httpx.Response, *, login: bool = False) -> dict[str, Any]:
    """The JSON object of a 2xx answer; any other answer as a SendFailure."""
    code = response.status_code
    if code == 429:
        raise SendFailure(
            "Reddit answered 429",
            permanent=False,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            throttled=True,
            response=response,
        )
    if code == 408 or code >= 500:
        raise SendFailure(f"Reddit answered {code}", permanent=False, response=response)
    if login and code in {400, 401, 403}:
        raise SendFailure(f"Reddit refused the login: {code}", permanent=True, response=response)
    if not 200 <= code < 300:
        raise SendFailure(f"Reddit answered {code}", permanent=True, response=response)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SendFailure(
            f"Reddit answered {code} without a JSON object", permanent=True, response=response
        )
    return answer


class Reddit(Channel):
    name = "reddit"
    label = "Reddit"
    retries_unknown_outcome = True  # find() looks first

    def __init__(self, subreddit: str, post_kind: str, flair_id: str, flair_text: str) -> None:
        self.subreddit = subreddit
        self.post_kind = post_kind
        self.flair_id = flair_id
        self.flair_text = flair_text

    @classmethod
    def configured(cls) -> Reddit | None:
        if not all(getattr(settings, name) for name in REQUIRED):
            return None
        return cls(
            settings.REDDIT_SUBREDDIT,
            settings.REDDIT_POST_KIND,
            settings.REDDIT_FLAIR_ID,
            settings.REDDIT_FLAIR_TEXT,
        )

    @classmethod
    def off_reason(cls) -> str:
        return f"{', '.join(REQUIRED)} are not all set"

    def targets(self) -> list[str]:
        return [self.subreddit]

    def title(self, announcement: Announcement) -> str:
        title = texts.render("reddit", "title.txt", announcement.version)
        return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"

    def body(self, announcement: Announcement) -> str:
        version = announcement.version
        return shorten(
            lambda shown: texts.render("reddit", "body.md", version, shown),
            version.entries.count(),
            SELF_TEXT_LIMIT,
        )

    def post(self, announcement: Announcement) -> Posted:
        title = self.title(announcement)
        data = {
            "sr": announcement.target,
            "title": title,
            "kind": self.post_kind,
            "resubmit": False,  # Reddit refuses the same link twice in the subreddit
            "sendreplies": True,
            "nsfw": False,
            "spoiler": False,
            "validate_on_submit": True,
        }
        if self.post_kind == "link":
            data["url"] = texts.version_url(announcement.version)
        else:
            data["text"] = self.body(announcement)
        if self.flair_id:
            data["flair_id"] = self.flair_id
        if self.flair_text:
            data["flair_text"] = self.flair_text
        with Client() as reddit:
            answer = reddit.call("POST", "api/submit/", data=data)
            result = answer.get("json") or {}
            errors = result.get("errors") or []
            posted = result.get("data") or {}
            codes = {str(error[0]) for error in errors if error}
            # The subreddit has this link already: ours, if find() sees it; refused otherwise.
            if "ALREADY_SUB" in codes and (earlier := self.find(announcement, reddit)):
                return earlier
        if not errors:
            if not posted.get("url") and not posted.get("name"):
                raise SendFailure(
                    f"Reddit answered without a post: {answer!r:.300}", permanent=True
                )
            return _posted(posted)
        message = "; ".join(" ".join(str(part) for part in error if part) for error in errors)[:500]
        if "RATELIMIT" in codes:
            # Reddit sometimes answers RATELIMIT for a post it did make: then the answer carries the
            # post (data) or its URL (message), and that is a success.
            if posted.get("url") or posted.get("name"):
                return _posted(posted)
            found = _POST_URL.search(message)
            if found:
                return Posted(url=found.group(0).rstrip(".,)"))
            raise SendFailure(
                f"Reddit: {message}", permanent=False, retry_after=_ratelimit_wait(result, message)
            )
        raise SendFailure(f"Reddit refused the post: {message}", permanent=True)

    def find(self, announcement: Announcement, reddit: Client | None = None) -> Posted | None:
        """Our recent submission of this release to the target subreddit (same title, or same link)."""
        if reddit is None:
            with Client() as reddit:
                return self.find(announcement, reddit)
        title = self.title(announcement)
        link = texts.version_url(announcement.version)
        listing = reddit.call(
            "GET",
            f"user/{settings.REDDIT_USERNAME}/submitted",
            params={"limit": FIND_LIMIT, "sort": "new"},
        )
        for child in (listing.get("data") or {}).get("children") or []:
            post = child.get("data") or {}
            if str(post.get("subreddit", "")).lower() != announcement.target.lower():
                continue
            if post.get("title") == title or (self.post_kind == "link" and post.get("url") == link):
                permalink = post.get("permalink") or ""
                return Posted(
                    external_id=str(post.get("name") or ""),
                    url=settings.REDDIT_URL.rstrip("/") + permalink if permalink else "",
                )
        return None


REQUIRED = (
    "REDDIT_CLIENT_ID",
    "REDDIT_CLIENT_SECRET",
    "REDDIT_USERNAME",
    "REDDIT_PASSWORD",
    "REDDIT_USER_AGENT",
    "REDDIT_SUBREDDIT",
)


def _ratelimit_wait(result: dict, message: str) -> float | None:
    """Seconds Reddit asks us to wait: the answer's `ratelimit`, or "take a break for 5 minutes"."""
    if isinstance(result.get("ratelimit"), int | float):
        return float(result["ratelimit"])
    found = _WAIT.search(message)
    if found:
        return int(found.group(1)) * _UNIT_SECONDS[found.group(2).lower()]
    return None


def _posted(data: dict) -> Posted:
    return Posted(
        external_id=str(data.get("name") or data.get("id") or ""), url=data.get("url", "")
    )


CHANNEL = Reddit
