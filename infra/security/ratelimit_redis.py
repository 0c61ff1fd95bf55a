"""Token buckets shared by every server process, in Redis (``rate_limit_backend = "redis"``).

With the in-process limiter a principal spread over N processes gets N
times its rate; here every process takes tokens from the same bucket, one
Redis hash per (principal, method class), updated by one Lua script so the
read-refill-take is atomic across processes. The script reads Redis's own
clock (``TIME``), so the processes' clocks need not agree. A bucket expires
once it would have refilled completely: Redis holds only the principals
active recently, as the in-process sweep does.

When Redis does not answer (within ``timeout_s``) the call is decided by an
in-process bucket of the same size instead, and Redis is left alone for
``retry_redis_after_s``: an outage of the limiter's store neither stops the
platform nor leaves it unlimited, and does not add a timeout to every call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from infra.security.ratelimit import DEFAULT_CLASS, BucketSpec, RateLimiter

log = logging.getLogger(__name__)

DEFAULT_KEY_PREFIX = "vgi:ratelimit:"

# KEYS[1] the bucket; ARGV rate per second, burst. Returns "0" when a token
# was taken, else the seconds until one will be there (as a string: Redis
# truncates Lua numbers to integers).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    """``try_acquire`` takes one token from the shared bucket or says how long until one is available."""

    def __init__(
        self,
        url: str,
        limits: Mapping[str, BucketSpec],
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        timeout_s: float = 0.25,
        retry_redis_after_s: float = 1.0,
        idle_evict_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if DEFAULT_CLASS not in limits:
            raise ValueError(f"limits must configure the {DEFAULT_CLASS} class")
        self._limits = dict(limits)
        self._prefix = key_prefix
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._take: Any = self._redis.register_script(_TAKE)
        self._fallback = RateLimiter(self._limits, idle_evict_s=idle_evict_s)
        self._retry_after_s = retry_redis_after_s
        self._clock = clock
        self._redis_down_until = 0.0
        self._redis_down = False  # said once per outage: WARNING when it goes, INFO when it is back

    async def try_acquire(self, principal: str, method_class: str) -> float | None:
        """Take a token for ``(principal, method_class)``: None when allowed, else seconds to wait."""
        if method_class not in self._limits:
            method_class = DEFAULT_CLASS
        now = self._clock()
        if now >= self._redis_down_until:
            spec = self._limits[method_class]
            try:
                wait = float(
                    await self._take(
                        keys=[f"{self._prefix}{principal}#{method_class}"], args=[spec.rate_per_s, spec.burst]
                    )
                )
            except (RedisError, OSError) as exc:
                log.log(
                    logging.DEBUG if self._redis_down else logging.WARNING,
                    "rate limits: Redis unavailable (%s); per-process buckets until it answers (asked every %.1fs)",
                    exc,
                    self._retry_after_s,
                )
                self._redis_down = True
                self._redis_down_until = now + self._retry_after_s
            else:
                if self._redis_down:
                    self._redis_down = False
                    log.info("rate limits: Redis answers again; buckets shared across processes")
                return wait if wait > 0 else None
        return self._fallback.try_acquire((principal, method_class), now)

    async def aclose(self) -> None:
        await self._redis.aclose()
