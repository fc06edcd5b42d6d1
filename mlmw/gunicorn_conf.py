"""gunicorn's settings in production (docker-compose.yml, the image's CMD): `--config
python:mlmw.gunicorn_conf`.

Threads, not sync workers: a sync worker is held by one client for as long as that client takes to
send its request, so three slow clients stalled the site. Each gthread worker serves WEB_THREADS
requests at once; a slow client holds one thread (and at most PUBLIC_MAX_BODY_BYTES of body, see
mlmw.limits). tests/test_slow_clients.py holds 20 slow connections while `/` answers. For hundreds
of slow clients put a buffering proxy in front (nginx, the TLS terminator), which also serves
downloads (ACCESS_SENDFILE).
"""

from mlmw.env import env_bool, env_int

worker_class = "gthread"
workers = env_int("WEB_CONCURRENCY", 2, min_value=1)
threads = env_int("WEB_THREADS", 16, min_value=1)
accesslog = "-"
# X-Forwarded-Proto (and -For) are believed from the proxy only when the app believes them too
# (TRUST_X_FORWARDED_PROTO, settings.SECURE_PROXY_SSL_HEADER): otherwise a client on 127.0.0.1 or
# in the container network could make gunicorn call plain HTTP "https".
forwarded_allow_ips = "*" if env_bool("TRUST_X_FORWARDED_PROTO", False) else ""
