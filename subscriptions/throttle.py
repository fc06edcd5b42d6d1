"""A global send rate shared by every worker: a token bucket in Redis.

MAIL_SEND_RATE mails per second across all workers (0: no limit). The bucket lives in the Redis of
CELERY_BROKER_URL, updated atomically by one Lua script, so any number of workers together stay under
the ESP's limit. Without a broker (the embedded set-up) there is one process and no limit.
"""

from __future__ import annotations

import time
from functools import lru_cache

from django.conf import settings

# KEYS[1] bucket; ARGV: rate/s, capacity, requested, now (s). Returns seconds to wait (0: taken).
_SCRIPT = """
local rate, capacity, want, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - at) * rate)
if tokens >= want then
  redis.call('HSET', KEYS[1], 'tokens', tokens - want, 'at', now)
  redis.call('EXPIRE', KEYS[1], 3600)
  return '0'
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], 3600)
return tostring((want - tokens) / rate)
"""


@lru_cache(maxsize=4)
def _script(url: str):
    import redis

    return redis.Redis.from_url(url).register_script(_SCRIPT)


def acquire(count: int, *, key: str = "mlmw:send-rate") -> float:
    """Take `count` tokens, or return how many seconds until they would be there (taking none)."""
    rate = settings.MAIL_SEND_RATE
    url = settings.CELERY_BROKER_URL
    if rate <= 0 or not url:
        return 0.0
    # A batch larger than a second's worth may still go, once the bucket is full.
    capacity = max(float(rate), float(count))
    wait = float(_script(url)(keys=[key], args=[rate, capacity, count, time.time()]))
    return wait
