"""Settings for the test suite: the real settings module, with test-only values for what it requires.

The values are set as environment defaults before the real module reads them, so the suite runs the
same code paths as production (DEBUG stays false); anything the caller exports (DATABASE_URL in CI)
wins.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SITE_URL", "http://testserver")

from mlmw.settings import *  # noqa: F403

# Hashing is deliberately slow in production; tests create users by the dozen.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Mail is captured in django.core.mail.outbox unless a test points EMAIL_BACKEND elsewhere; a worker
# process started by a test (tests/conftest.py start_worker) is pointed at a fake ESP through
# TEST_EMAIL_BACKEND.
EMAIL_BACKEND = os.environ.get(
    "TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend"
)
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# The suite never runs collectstatic, so STATIC_ROOT does not exist: WhiteNoise would warn about it
# on the first request (an error under filterwarnings=error). Find static files through the finders.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# anymail's webhooks (tests/test_bounce_webhooks.py): the basic-auth secret every ESP view checks (without
# it anymail warns, an error under filterwarnings=error) and Mailgun's payload signing key.
ANYMAIL = {
    **ANYMAIL,  # noqa: F405
    "WEBHOOK_SECRET": "hook:tests-only",
    "MAILGUN_WEBHOOK_SIGNING_KEY": "mailgun-signing-key-tests-only",
}
# The suite posts both ESPs' real payloads to their webhooks (tests/test_bounce_webhooks.py).
ESP_WEBHOOKS = ["postmark", "mailgun"]
# A number for anymail (ANYMAIL_REQUESTS_TIMEOUT from the environment arrives as text, which
# requests refuses): the fake-ESP worker tests set a short client timeout through this.
if os.environ.get("TEST_ANYMAIL_REQUESTS_TIMEOUT"):
    ANYMAIL["REQUESTS_TIMEOUT"] = float(os.environ["TEST_ANYMAIL_REQUESTS_TIMEOUT"])
# Channels (announcements/) are off in the suite, whatever the caller's shell exports, so no test can
# post to a real Telegram chat or subreddit. The channel tests point them at loopback fakes on this
# process's settings, and start workers with TEST_CHANNELS=on and the fakes' URLs.
if os.environ.get("TEST_CHANNELS") != "on":
    TELEGRAM_BOT_TOKEN = TELEGRAM_CHAT_ID = ""
    REDDIT_CLIENT_ID = REDDIT_CLIENT_SECRET = REDDIT_USERNAME = REDDIT_PASSWORD = ""
    REDDIT_USER_AGENT = REDDIT_SUBREDDIT = WEBHOOK_SECRET = ""
    WEBHOOK_URLS = []
