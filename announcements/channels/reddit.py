"""Reddit: a link (or self) post in the configured subreddit, through PRAW with a script app.

Reddit's submit cannot be made idempotent, so the post is guarded three ways against a second copy:
prawcore's own retries of POSTs (on 5xx, 408 and read timeouts, which repeat a submit that reached
Reddit) are switched off; before every retry, our account's recent submissions are searched for this
release (find()); and link posts are sent with resubmit=false, so Reddit itself refuses the same link
twice in the subreddit (ALREADY_SUB), which find() then settles.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import praw
import prawcore
from django.conf import settings
from praw.exceptions import PRAWException
from prawcore.sessions import RetryStrategy

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


class NoRetries(RetryStrategy):
    """prawcore's retry strategy, with no retries and no sleeps: a retry is our task's decision,
    taken after find() (prawcore would resubmit a post that reached Reddit and then got a 5xx)."""

    def _sleep_seconds(self) -> float | None:
        return None

    def consume_available_retry(self) -> NoRetries:
        return self

    def should_retry_on_failure(self) -> bool:
        return False


def without_retries(reddit: praw.Reddit) -> praw.Reddit:
    # A private attribute of prawcore's Session (prawcore 4.0, pinned in uv.lock):
    # tests/test_reddit_announcements.py proves a 5xx is not retried, so an upgrade that renames it
    # fails there.
    for core in (reddit._core, reddit._authorized_core, reddit._read_only_core):
        if core is not None:
            assert hasattr(core, "_retry_strategy_class"), "prawcore changed: see without_retries"
            core._retry_strategy_class = NoRetries
    return reddit


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

    def client(self) -> praw.Reddit:
        reddit = praw.Reddit(
            client_id=settings.REDDIT_CLIENT_ID,
            client_secret=settings.REDDIT_CLIENT_SECRET,
            username=settings.REDDIT_USERNAME,
            password=settings.REDDIT_PASSWORD,
            user_agent=settings.REDDIT_USER_AGENT,
            oauth_url=settings.REDDIT_OAUTH_URL,
            reddit_url=settings.REDDIT_URL,
            check_for_updates=False,
            timeout=settings.CHANNEL_TIMEOUT,
            ratelimit_seconds=0,  # never sleep in a worker: a RATELIMIT becomes a countdown
        )
        return without_retries(reddit)

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
        reddit = self.client()
        answer = _call(lambda: reddit.request(method="POST", path="api/submit/", data=data))
        result = (answer or {}).get("json", {}) if isinstance(answer, dict) else {}
        errors = result.get("errors") or []
        posted = result.get("data") or {}
        if not errors:
            if not posted.get("url") and not posted.get("name"):
                raise SendFailure(
                    f"Reddit answered without a post: {answer!r:.300}", permanent=True
                )
            return _posted(posted)
        codes = {str(error[0]) for error in errors if error}
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
        if "ALREADY_SUB" in codes:
            earlier = self.find(announcement, reddit=reddit)
            if earlier is not None:
                return earlier
        raise SendFailure(f"Reddit refused the post: {message}", permanent=True)

    def find(self, announcement: Announcement, reddit: praw.Reddit | None = None) -> Posted | None:
        """Our recent submission of this release to the target subreddit (same title, or same link)."""
        reddit = reddit or self.client()
        title = self.title(announcement)
        link = texts.version_url(announcement.version)
        listing = _call(
            lambda: reddit.request(
                method="GET",
                path=f"user/{settings.REDDIT_USERNAME}/submitted",
                params={"limit": FIND_LIMIT, "sort": "new"},
            )
        )
        for child in ((listing or {}).get("data") or {}).get("children") or []:
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


def _call(request):
    """Run a PRAW request; map its exceptions to SendFailure."""
    try:
        return request()
    except prawcore.TooManyRequests as exc:
        raise SendFailure(
            "Reddit answered 429",
            permanent=False,
            retry_after=retry_after_seconds(exc.response.headers.get("Retry-After")),
            throttled=True,
            response=exc.response,
        ) from exc
    except prawcore.ServerError as exc:
        raise SendFailure(
            f"Reddit answered {exc.response.status_code}", permanent=False, response=exc.response
        ) from exc
    except prawcore.RequestException as exc:
        original = exc.original_exception
        raise SendFailure(
            f"no answer from Reddit: {type(original).__name__}", permanent=False
        ) from exc
    except prawcore.OAuthException as exc:
        raise SendFailure(f"Reddit refused the login: {exc.error}", permanent=True) from exc
    except prawcore.ResponseException as exc:
        code = exc.response.status_code
        if code in {408, 429} or code >= 500:
            raise SendFailure(f"Reddit answered {code}", permanent=False) from exc
        raise SendFailure(
            f"Reddit answered {code} ({type(exc).__name__})", permanent=True, response=exc.response
        ) from exc
    except (PRAWException, prawcore.PrawcoreException) as exc:
        raise SendFailure(f"Reddit: {exc}"[:500], permanent=True) from exc


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
