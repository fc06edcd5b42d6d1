"""Settings for mlmw, read from the environment (see .env.example for every variable and its default).

The defaults give the embedded set-up of `make run`: SQLite, tasks run in-process, mail to the console.
Production sets DATABASE_URL, CELERY_BROKER_URL, an ESP through EMAIL_BACKEND and ANYMAIL_*, SECRET_KEY
and DEBUG=false.
"""

from __future__ import annotations

import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from mlmw.env import env_bool, env_int, env_list, env_prefixed, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

# Only a development server may run on a known key; anything else must bring its own.
_DEV_SECRET_KEY = "django-insecure-mlmw-development-only"  # noqa: S105 - only with DEBUG
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else None)
if SECRET_KEY is None:
    raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is false.")
# Old keys still verify signed links (unsubscribe links never expire), so a key can be rotated.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.syndication",
    "anymail",
    "csp",
    "guide",
    "subscriptions",
    "access",
    "announcements",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Bodies over PUBLIC_MAX_BODY_BYTES / WEBHOOK_MAX_BODY_BYTES are 413 before they are read.
    "mlmw.limits.RequestSizeMiddleware",
    # /healthz is answered here, before host validation (CommonMiddleware) and sessions: see mlmw.health.
    "mlmw.health.HealthCheckMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Pages of personal links (a `token` in the URL): Cache-Control: private, no-store.
    "mlmw.privacy.PrivateTokenPagesMiddleware",
]

ROOT_URLCONF = "mlmw.urls"
WSGI_APPLICATION = "mlmw.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mlmw.context_processors.site",
            ],
        },
    },
    {
        # Plain-text mail parts and subjects: the same templates, never HTML-escaped (an escaped
        # "&quot;" in a text mail is a bug). subscriptions.emails renders .txt templates with it.
        "NAME": "text",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"autoescape": False},
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, min_value=0),
        conn_health_checks=True,
    )
}
# The password may come apart from DATABASE_URL, so it can be a Docker secret (DATABASE_PASSWORD_FILE).
_database_password = env_str("DATABASE_PASSWORD", "")
if _database_password:
    DATABASES["default"]["PASSWORD"] = _database_password
if "postgresql" in DATABASES["default"]["ENGINE"]:
    # Fail fast when the server does not answer (instead of the OS's minutes-long TCP timeout), so
    # /healthz and requests report a dead database within seconds.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5, min_value=1)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rate limits and other short-lived counters live in the cache, shared by every process: Redis in
# production (CACHE_URL=redis://…), process-local memory for the embedded set-up.
_cache_url = env_str("CACHE_URL", "")
if _cache_url:
    if not _cache_url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"CACHE_URL={_cache_url!r} must be a redis:// URL.")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media/"

# --- Mail -------------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, min_value=1, max_value=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, min_value=1)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "MLMW guide <updates@mlmw.example>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)


def _anymail_value(name: str, value: str) -> str | bool | float:
    # Environment values are text; anymail wants booleans for its flags (IGNORE_UNSUPPORTED_FEATURES)
    # and a number for REQUESTS_TIMEOUT (text there fails every send).
    if name == "REQUESTS_TIMEOUT":
        try:
            return float(value)
        except ValueError:
            raise ImproperlyConfigured(
                f"ANYMAIL_REQUESTS_TIMEOUT={value!r} is not a number of seconds."
            ) from None
    return {"true": True, "false": False}.get(value.lower(), value)


# Every ANYMAIL_<NAME> variable becomes ANYMAIL["<NAME>"], e.g. ANYMAIL_POSTMARK_SERVER_TOKEN.
ANYMAIL = {name: _anymail_value(name, value) for name, value in env_prefixed("ANYMAIL_").items()}


# The ESPs whose webhooks /anymail/<esp>/… answers (the others are 404): by default the one
# EMAIL_BACKEND sends through (mlmw.webhooks).
def _esps_of_backend(backend: str) -> list[str]:
    # "anymail.backends.postmark.EmailBackend": postmark; none for SMTP or the console.
    if backend == "subscriptions.esp.MailgunBatchBackend":
        return ["mailgun"]
    parts = backend.split(".")
    return [parts[2]] if len(parts) == 4 and parts[:2] == ["anymail", "backends"] else []


ESP_WEBHOOKS = env_list("ESP_WEBHOOKS", _esps_of_backend(EMAIL_BACKEND))

# --- Celery -----------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
# No broker: run tasks in-process, right away (the embedded set-up of `make run`).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "mlmw")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged only when it has finished, and handed back if its worker dies, so a killed
# worker loses no task. Tasks are therefore written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
# Celery's Django fixup closes every database connection before and after each task unless this
# is set; then only every N tasks. A fresh PostgreSQL session per 1000-recipient batch (fork,
# authentication, empty catalog caches) cost more than a tenth of the fan-out's CPU. A broken or
# stale connection is still closed before each task (mlmw.celery.heal_database_connections: Django's
# CONN_MAX_AGE and health checks, as at the start of a request), and tasks retry on a lost one.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 100, min_value=0)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than any task may run (tasks are hard-limited below), so Redis never redelivers a task
    # that is still running.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, min_value=60),
}
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, min_value=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 5
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT."
    )
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "publish-due-versions": {
        "task": "guide.tasks.publish_due_versions",
        "schedule": env_int("SCHEDULED_PUBLISH_INTERVAL", 60, min_value=1),
    },
}

# --- Security ---------------------------------------------------------------------------------------
# Request bodies (mlmw.limits): public forms are a few hundred bytes; an ESP's bounce report can
# quote the bounced message. The admin keeps Django's limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB) and
# ACCESS_UPLOAD_MAX_BYTES for artifact uploads.
PUBLIC_MAX_BODY_BYTES = env_int("PUBLIC_MAX_BODY_BYTES", 32 * 1024, min_value=1024)
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, min_value=1024)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, min_value=0)
# On by default in production (and `check --deploy` clean); a site sharing its domain with hosts that
# are not on HTTPS yet turns these off explicitly.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets this header itself; otherwise a client could claim HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Load balancers and compose probe /healthz over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]

# Content-Security-Policy on every page (django-csp 4). No inline script anywhere; styles come from
# files, except the one <style> block Django's admin change list writes (allowed by its hash, checked
# against the installed Django by tests/test_content_security_policy.py). The admin's release-mail
# previews relax style-src for their own pages only (guide/admin.py, subscriptions/subscriber_preview.py):
# the mail's inline CSS renders in a sandboxed srcdoc iframe, which inherits the page's policy. A
# reader's "View in browser" page sets its own policy (subscriptions/reader_views.py).
ADMIN_CHANGELIST_STYLE_HASH = "'sha256-blvLUW3UscWqsXGByNOqdBboM+ShWAuugp2mC/wbafU='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", ADMIN_CHANGELIST_STYLE_HASH],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Logs: one line per record on stderr, as text or JSON (LOG_FORMAT). Every record logged while a Celery
# task runs carries the task's name and id and the ids it works on (mailing, batch, deliveries,
# announcement…): mlmw.logs binds them from the task's arguments (mlmw/celery.py connects it).
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be text or json.")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL={LOG_LEVEL!r} must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "mlmw.logs.ContextFilter"}},
    "formatters": {
        "text": {"()": "mlmw.logs.TextFormatter"},
        "json": {"()": "mlmw.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own configuration (applied first) gives the "django" logger a console handler of
        # its own, active under DEBUG: with the root's, every django.* line was printed twice. This
        # empties it (and its mail_admins, unused: there are no ADMINS), so records go to the root.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
    },
}
if not CELERY_BROKER_URL:
    # Without a broker, Celery's eager mode still builds a (never connected) producer for each task
    # and kombu warns "No hostname was supplied" every time: noise in the embedded set-up only.
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}

# --- mlmw -------------------------------------------------------------------------------------------
# The diff shown in a mail or on a page is cut after this many items (links and paragraphs), with a link
# to the full compare page.
MLMW_DIFF_ITEM_LIMIT = env_int("MLMW_DIFF_ITEM_LIMIT", 60, min_value=1)
MLMW_BADGE_MAX_AGE = env_int("MLMW_BADGE_MAX_AGE", 300, min_value=0)
# The admin lives under a configurable path so it is not where every scanner looks first.
ADMIN_PATH = env_str("ADMIN_PATH", "admin").strip("/")
if not re.fullmatch(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", ADMIN_PATH):
    raise ImproperlyConfigured(
        f"ADMIN_PATH={ADMIN_PATH!r} must be a URL path of letters, digits, - and _ (e.g. staff-4f2a)."
    )
# Failed admin sign-ins (django-ratelimit rates, counted in the cache): per client IP, and per username
# tried from one client IP (never per username alone, so nobody can lock the owner out; mlmw.login).
ADMIN_LOGIN_RATE_PER_IP = env_str("ADMIN_LOGIN_RATE_PER_IP", "20/h")
ADMIN_LOGIN_RATE_PER_USERNAME = env_str("ADMIN_LOGIN_RATE_PER_USERNAME", "5/15m")
for _name in ("ADMIN_LOGIN_RATE_PER_IP", "ADMIN_LOGIN_RATE_PER_USERNAME"):
    # Checked here: django-ratelimit would only fail on the first sign-in, with a bare AttributeError.
    if not re.fullmatch(r"[1-9][0-9]*/[0-9]*[smhd]", globals()[_name]):
        raise ImproperlyConfigured(
            f"{_name}={globals()[_name]!r} is not a rate: use count/period, e.g. 5/15m "
            "(period s, m, h or d)."
        )

# --- Subscriptions ----------------------------------------------------------------------------------
# Keys the hashes of erased addresses on the suppression list. Must stay the same for the life of the
# list (it is not rotated with SECRET_KEY); defaults to a value derived from SECRET_KEY for set-ups
# that never rotate.
SUPPRESSION_KEY = env_str("SUPPRESSION_KEY", "")
SUPPRESSION_KEY_IS_DERIVED = not SUPPRESSION_KEY  # the deploy check warns about this
SUPPRESSION_KEY = SUPPRESSION_KEY or f"suppression:{SECRET_KEY}"
CONFIRMATION_MAX_AGE_HOURS = env_int("CONFIRMATION_MAX_AGE_HOURS", 72, min_value=1)
# At most one confirmation (or "already subscribed") mail per address in this many seconds.
CONFIRMATION_RESEND_SECONDS = env_int("CONFIRMATION_RESEND_SECONDS", 600, min_value=0)
# django-ratelimit rates ("count/period", period s, m, h or d) for the subscribe form.
SUBSCRIBE_RATE_PER_IP = env_str("SUBSCRIBE_RATE_PER_IP", "20/h")
# Per mailbox (subscriptions.addresses.mailbox_key), across the subscribe and access forms: each
# attempt counts, so it caps the mails a stranger can make us send to one inbox (3 a day).
SUBSCRIBE_RATE_PER_MAILBOX = env_str("SUBSCRIBE_RATE_PER_MAILBOX", "3/d")
# Soft bounces (deferred/temporary failures) within this many days before a subscriber counts as bounced.
SOFT_BOUNCE_LIMIT = env_int("SOFT_BOUNCE_LIMIT", 3, min_value=1)
SOFT_BOUNCE_WINDOW_DAYS = env_int("SOFT_BOUNCE_WINDOW_DAYS", 30, min_value=1)
# How many reverse proxies in front of the app append to X-Forwarded-For (0: use REMOTE_ADDR). Rate
# limits and consent records use the client address this yields.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, min_value=0, max_value=5)
RATELIMIT_IP_META_KEY = "mlmw.proxy.client_ip"
# Where replies to release and access mails go (a person: the editors); empty: to the From address.
REPLY_TO = env_str("REPLY_TO", "")
# The sender part of every mail's Feedback-ID ("<kind>:<sender>"), for Gmail's feedback loop.
FEEDBACK_ID_SENDER = env_str("FEEDBACK_ID_SENDER", "mlmw")
# Postmark's message streams: release mail in the broadcast stream, everything else transactional.
POSTMARK_BROADCAST_STREAM = env_str("POSTMARK_BROADCAST_STREAM", "broadcast")
POSTMARK_TRANSACTIONAL_STREAM = env_str("POSTMARK_TRANSACTIONAL_STREAM", "outbound")
# The List-Id of every list mail (List-Unsubscribe is the HTTPS one-click URL alone).
LIST_ID = env_str("LIST_ID", "MLMW guide updates <updates.mlmw.example>")

# --- Release mail (the fan-out) ---------------------------------------------------------------------
# Recipients per ESP call (Mailgun takes at most 1000 per call).
MAIL_BATCH_SIZE = env_int("MAIL_BATCH_SIZE", 1000, min_value=1, max_value=1000)
# A mailing's audience is written in windows of this many subscriber ids, one transaction (and one
# start_mailing task) each, so sending starts after the first window (audience.start_chunk).
MAIL_AUDIENCE_CHUNK = env_int("MAIL_AUDIENCE_CHUNK", 50_000, min_value=1)
# The ESP's per-recipient placeholder, with {} for the field name. Set for ESPs whose API merges
# per-recipient variables into one request (the default suits Mailgun); empty: one message per
# recipient (SMTP and ESPs without merge support).
_DEFAULT_PLACEHOLDER = "%recipient.{}%" if "mailgun" in EMAIL_BACKEND.lower() else ""
MAIL_MERGE_PLACEHOLDER = env_str("MAIL_MERGE_PLACEHOLDER", _DEFAULT_PLACEHOLDER)
if MAIL_MERGE_PLACEHOLDER and "{}" not in MAIL_MERGE_PLACEHOLDER:
    raise ImproperlyConfigured("MAIL_MERGE_PLACEHOLDER must contain {} for the field name.")
# Mails per second across all workers (0: unlimited); a token bucket in the broker's Redis.
MAIL_SEND_RATE = env_int("MAIL_SEND_RATE", 0, min_value=0)
# A batch the ESP keeps answering "not now" (5xx, 429, no answer) is retried with capped exponential
# backoff and jitter for this long before its recipients are failed: outages and rate limits are
# waited out, not counted. 429s (the ESP's rate limit) never count as attempts.
MAIL_GIVE_UP_AFTER = env_int("MAIL_GIVE_UP_AFTER", 6 * 3600, min_value=0)
# Claims of one batch that never finished (its worker died each time) before it is failed; in-process
# (no broker), where a retry cannot wait, also the number of attempts.
MAIL_BATCH_MAX_ATTEMPTS = env_int("MAIL_BATCH_MAX_ATTEMPTS", 8, min_value=1)
MAIL_RETRY_BASE_SECONDS = env_int("MAIL_RETRY_BASE_SECONDS", 5, min_value=1)
MAIL_RETRY_MAX_SECONDS = env_int("MAIL_RETRY_MAX_SECONDS", 900, min_value=1)
# Before a batch whose outcome is unknown is sent again, ask the ESP which recipients it took
# (subscriptions.reconcile): "auto" where the ESP can tell (Mailgun), "off" never.
MAIL_RECONCILE = env_str("MAIL_RECONCILE", "auto").lower()
if MAIL_RECONCILE not in {"auto", "off"}:
    raise ImproperlyConfigured("MAIL_RECONCILE must be auto or off.")
# A batch claimed longer ago than this is taken to be lost with its worker: longer than any task.
MAIL_BATCH_LEASE_SECONDS = env_int(
    "MAIL_BATCH_LEASE_SECONDS", CELERY_TASK_TIME_LIMIT + 60, min_value=1
)
# A queued batch or pending mailing whose task has not run after this long is enqueued again.
MAIL_REQUEUE_AFTER_SECONDS = env_int("MAIL_REQUEUE_AFTER_SECONDS", 300, min_value=1)
if MAIL_BATCH_LEASE_SECONDS <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("MAIL_BATCH_LEASE_SECONDS must exceed CELERY_TASK_TIME_LIMIT.")
# Addresses that never confirmed are deleted, with their history, this many days after their last
# confirmation mail (subscriptions.retention).
PENDING_RETENTION_DAYS = env_int("PENDING_RETENTION_DAYS", 30, min_value=1)
# The outbox of one-off tasks (subscriptions.queued_tasks): a one-mail task or a public form's
# request whose row has not been taken this long after it was published (the broker refused or lost
# it, its worker died past its lease) is published again; beat looks every MAIL_TASK_SWEEP_INTERVAL
# seconds. A mail task that used up its MAIL_TASK_RETRIES (an ESP outage), or a form request whose
# decision failed, runs again after a backoff (MAIL_RETRY_BASE_SECONDS, capped at
# MAIL_RETRY_MAX_SECONDS), until its row is MAIL_TASK_GIVE_UP_HOURS old: then a confirmation link
# would have expired before its mail came.
MAIL_TASK_RETRIES = env_int("MAIL_TASK_RETRIES", 5, min_value=0)  # in the task, backoff 1, 2, 4 … s
MAIL_TASK_REQUEUE_AFTER_SECONDS = env_int("MAIL_TASK_REQUEUE_AFTER_SECONDS", 60, min_value=1)
MAIL_TASK_GIVE_UP_HOURS = env_int(
    "MAIL_TASK_GIVE_UP_HOURS", CONFIRMATION_MAX_AGE_HOURS, min_value=1
)
CELERY_BEAT_SCHEDULE["sweep-queued-tasks"] = {
    "task": "subscriptions.tasks.sweep_queued_tasks",
    "schedule": env_int("MAIL_TASK_SWEEP_INTERVAL", 30, min_value=1),
}
CELERY_BEAT_SCHEDULE["purge-pending-subscribers"] = {
    "task": "subscriptions.tasks.purge_pending_subscribers",
    "schedule": env_int("PENDING_PURGE_INTERVAL", 3600, min_value=60),
}
CELERY_BEAT_SCHEDULE["sweep-mailings"] = {
    "task": "subscriptions.tasks.sweep_mailings",
    "schedule": env_int("MAIL_SWEEP_INTERVAL", 60, min_value=1),
}
# Digests: every this many seconds beat opens the current slot's digest mailing if a reader is due
# (subscriptions.digests). Slots are quarter hours: keep this under 900.
CELERY_BEAT_SCHEDULE["open-digests"] = {
    "task": "subscriptions.tasks.open_digest",
    "schedule": env_int("DIGEST_INTERVAL", 300, min_value=10),
}

# --- Access on request (access/) --------------------------------------------------------------------
# A personal download link works this many days, for this many downloads (each GET counts; HEAD not).
ACCESS_GRANT_DAYS = env_int("ACCESS_GRANT_DAYS", 30, min_value=1)
ACCESS_DOWNLOAD_CAP = env_int("ACCESS_DOWNLOAD_CAP", 20, min_value=1)
# A Range request past the first byte within this many hours of a counted download of the same
# grant continues that download: it counts nothing, and may finish after the cap is reached.
ACCESS_RESUME_HOURS = env_int("ACCESS_RESUME_HOURS", 24, min_value=1)
ACCESS_DOWNLOAD_RATE_PER_IP = env_str("ACCESS_DOWNLOAD_RATE_PER_IP", "60/h")
# Largest artifact upload, in bytes.
ACCESS_UPLOAD_MAX_BYTES = env_int("ACCESS_UPLOAD_MAX_BYTES", 50 * 1024 * 1024, min_value=1)
# Denied, never verified, expired and revoked requests are deleted this many days later.
ACCESS_RETENTION_DAYS = env_int("ACCESS_RETENTION_DAYS", 90, min_value=1)
# Hand downloads to the web server: "" (stream from Django), "x-accel-redirect" (nginx: an internal
# location at ACCESS_SENDFILE_PREFIX serving MEDIA_ROOT) or "x-sendfile" (Apache, lighttpd).
ACCESS_SENDFILE = env_str("ACCESS_SENDFILE", "").lower()
if ACCESS_SENDFILE not in {"", "x-accel-redirect", "x-sendfile"}:
    raise ImproperlyConfigured("ACCESS_SENDFILE must be empty, x-accel-redirect or x-sendfile.")
ACCESS_SENDFILE_PREFIX = env_str("ACCESS_SENDFILE_PREFIX", "/protected/")
CELERY_BEAT_SCHEDULE["purge-access-requests"] = {
    "task": "access.tasks.purge_access_requests",
    "schedule": env_int("ACCESS_PURGE_INTERVAL", 3600, min_value=60),
}

# --- Channels: each release posted to Telegram, Reddit, JSON webhooks (announcements/) ---------------
# A channel whose settings are all unset is off (said once in the log and in the admin); one that is
# half set stops the process, naming what is missing.
TELEGRAM_BOT_TOKEN = env_str("TELEGRAM_BOT_TOKEN", "")
TELEGRAM_CHAT_ID = env_str("TELEGRAM_CHAT_ID", "")
TELEGRAM_API_URL = env_str("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
TELEGRAM_LINK_PREVIEW = env_bool("TELEGRAM_LINK_PREVIEW", True)
REDDIT_CLIENT_ID = env_str("REDDIT_CLIENT_ID", "")
REDDIT_CLIENT_SECRET = env_str("REDDIT_CLIENT_SECRET", "")
REDDIT_USERNAME = env_str("REDDIT_USERNAME", "")
REDDIT_PASSWORD = env_str("REDDIT_PASSWORD", "")
REDDIT_USER_AGENT = env_str("REDDIT_USER_AGENT", "")
REDDIT_SUBREDDIT = env_str("REDDIT_SUBREDDIT", "").removeprefix("r/").removeprefix("/r/")
REDDIT_OAUTH_URL = env_str("REDDIT_OAUTH_URL", "https://oauth.reddit.com")
REDDIT_URL = env_str("REDDIT_URL", "https://www.reddit.com")
# "link": a link post to the version page; "self": a text post with the changelog in Markdown.
REDDIT_POST_KIND = env_str("REDDIT_POST_KIND", "link")
REDDIT_FLAIR_ID = env_str("REDDIT_FLAIR_ID", "")
REDDIT_FLAIR_TEXT = env_str("REDDIT_FLAIR_TEXT", "")
WEBHOOK_URLS = env_list("WEBHOOK_URLS")
WEBHOOK_SECRET = env_str("WEBHOOK_SECRET", "")
CHANNEL_TIMEOUT = env_int("CHANNEL_TIMEOUT", 15, min_value=1)
ANNOUNCE_MAX_ATTEMPTS = env_int("ANNOUNCE_MAX_ATTEMPTS", 8, min_value=1)
ANNOUNCE_RETRY_MIN_SECONDS = env_int("ANNOUNCE_RETRY_MIN_SECONDS", 1, min_value=0)
ANNOUNCE_RETRY_BASE_SECONDS = env_int("ANNOUNCE_RETRY_BASE_SECONDS", 30, min_value=1)
ANNOUNCE_RETRY_MAX_SECONDS = env_int("ANNOUNCE_RETRY_MAX_SECONDS", 3600, min_value=1)
# A post claimed longer ago than this is taken to be lost with its worker (longer than any task).
ANNOUNCE_LEASE_SECONDS = CELERY_TASK_TIME_LIMIT + 60
# A pending post whose task has not run this long after it was due is enqueued again.
ANNOUNCE_REQUEUE_AFTER_SECONDS = env_int("ANNOUNCE_REQUEUE_AFTER_SECONDS", 300, min_value=1)


def _all_or_none(channel: str, names: list[str]) -> None:
    values = {name: globals()[name] for name in names}
    missing = [name for name, value in values.items() if not value]
    if missing and len(missing) < len(names):
        raise ImproperlyConfigured(
            f"{channel} is half configured: set {', '.join(missing)} too, or unset the others."
        )


_all_or_none("Telegram", ["TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID"])
_all_or_none(
    "Reddit",
    [
        "REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USERNAME", "REDDIT_PASSWORD",
        "REDDIT_USER_AGENT", "REDDIT_SUBREDDIT",
    ],
)  # fmt: skip
_all_or_none("The webhook channel", ["WEBHOOK_URLS", "WEBHOOK_SECRET"])
if REDDIT_POST_KIND not in {"link", "self"}:
    raise ImproperlyConfigured(f"REDDIT_POST_KIND={REDDIT_POST_KIND!r} must be link or self.")
for _name, _urls in [
    ("TELEGRAM_API_URL", [TELEGRAM_API_URL]),
    ("REDDIT_OAUTH_URL", [REDDIT_OAUTH_URL]),
    ("REDDIT_URL", [REDDIT_URL]),
    ("WEBHOOK_URLS", WEBHOOK_URLS),
]:
    for _url in _urls:
        if not _url.startswith(("https://", "http://")):
            # The value is not repeated: a webhook URL may carry a token.
            raise ImproperlyConfigured(f"{_name}: every URL must be an http(s) URL.")
        if len(_url) > 500:  # Announcement.target's length
            raise ImproperlyConfigured(f"{_name}: every URL must be at most 500 characters.")
# httpx logs every request's URL at INFO, and the Bot API's URL carries the bot token.
LOGGING["loggers"]["httpx"] = {"level": "WARNING"}
CELERY_BEAT_SCHEDULE["sweep-announcements"] = {
    "task": "announcements.tasks.sweep_announcements",
    "schedule": env_int("ANNOUNCE_SWEEP_INTERVAL", 60, min_value=1),
}
