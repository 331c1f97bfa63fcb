"""Per-client token buckets shared by every web process (in Redis).

Without REDIS_URL (the embedded `make run` defaults) the bucket lives in the
process, which is exact for a single process only. If Redis is unreachable the
limiter lets requests through and logs: losing reports is worse than a burst.
"""

import logging
import math
import threading
import time

from django.conf import settings

from config import degraded

log = logging.getLogger(__name__)

_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local data = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(data[1])
local ts = tonumber(data[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local allowed = 0
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait_ms}
"""


class _RedisLimiter:
    def __init__(self, url):
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self._script = self._client.register_script(_LUA)

    def hit(self, key, rate, burst):
        try:
            allowed, wait_ms = self._script(keys=[f"quorum:ratelimit:{key}"], args=[rate, burst])
        except Exception as exc:  # the broker/cache being down must not stop intake
            degraded.record(component="api_rate_limiter", mode="fail_open", error=exc)
            return True, 0.0
        return bool(allowed), wait_ms / 1000.0


class _LocalLimiter:
    def __init__(self):
        self._buckets = {}
        self._lock = threading.Lock()

    def hit(self, key, rate, burst):
        now = time.monotonic()
        with self._lock:
            tokens, ts = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - ts) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return True, 0.0
            self._buckets[key] = (tokens, now)
            return False, (1 - tokens) / rate


_limiter = None
_limiter_lock = threading.Lock()


def limiter():
    global _limiter
    if _limiter is None:
        with _limiter_lock:
            if _limiter is None:
                _limiter = _RedisLimiter(settings.REDIS_URL) if settings.REDIS_URL else _LocalLimiter()
    return _limiter


def hit_failed_auth(address):
    """Takes one token from the bucket of failed API authentications from one
    client address (config.client_ip). Valid keys never touch this bucket, so
    a platform is not slowed by others behind the same address; a key guesser
    or a misconfigured script hammering the key look-up is."""
    allowed, wait = limiter().hit(f"badkey:{address}", settings.API_FAILED_AUTH_RATE_PER_SECOND,
                                  settings.API_FAILED_AUTH_BURST)
    return allowed, (max(1, math.ceil(wait)) if not allowed else 0)


def hit(client):
    """Takes one token from the client's bucket. Returns (allowed, seconds to wait)."""
    allowed, wait = limiter().hit(str(client.pk), client.rate_per_second, client.burst)
    return allowed, (max(1, math.ceil(wait)) if not allowed else 0)
