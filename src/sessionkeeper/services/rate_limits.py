"""Per-key rate limits (``domain/rate_limit.py``), checked on every authenticated request.

Buckets live in the process, or in Redis when ``SESSIONKEEPER_REDIS_URL`` is set, so that every
process and host takes from the same bucket. Redis is never the record: a flush or a restart
refills the buckets and nothing else; while Redis is unreachable each process limits on its
own buckets rather than refusing anyone for it.
"""

from __future__ import annotations

import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

from sessionkeeper.clock import monotonic_s
from sessionkeeper.config import Settings
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.rate_limit import Bucket, Limit, take
from sessionkeeper.errors import TooManyRequests
from sessionkeeper.services.runtime import Runtime

log = logging.getLogger("sessionkeeper.rate_limits")

# A Redis that does not answer within this is treated as away, and left alone for a while.
REDIS_TIMEOUT_S = 0.25
REDIS_RETRY_AFTER_S = 5.0
# A bucket holds this many seconds' worth of requests unless the burst is set.
DEFAULT_BURST_S = 10
# Buckets kept in the process before the full ones are dropped.
MAX_LOCAL_BUCKETS = 10_000

# The rule of domain/rate_limit.take, atomically on one hash {tokens, at}. KEYS[1] the
# bucket; ARGV now_ms, rate, burst, refill_ms. Returns {allowed (1/0), wait in µs}.
TAKE_SCRIPT = """
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens, at = burst, now end
local later = math.max(at, now)
tokens = math.min(burst, tokens + (later - at) / 1000 * rate)
local allowed, wait = 0, 0
if tokens >= 1 then
  tokens, allowed = tokens - 1, 1
else
  wait = math.ceil((1 - tokens) / rate * 1000000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', later)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {allowed, wait}
"""


def limit_of(settings: Settings) -> Limit | None:
    rate = settings.rate_limit_per_key
    if rate is None:
        return None
    burst = settings.rate_limit_burst or max(1.0, rate * DEFAULT_BURST_S)
    return Limit(rate=rate, burst=burst)


class RateLimits:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.limit = limit_of(runtime.settings)
        # name: the bucket and the limit it fills under (to know when it is full again).
        self._buckets: dict[str, tuple[Bucket, Limit]] = {}
        settings = runtime.settings
        self._prefix = f"{settings.redis_prefix}rate:"
        self._redis = (
            None
            if settings.redis_url is None
            else redis.Redis.from_url(
                settings.redis_url,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
        )
        self._script = None if self._redis is None else self._redis.register_script(TAKE_SCRIPT)
        self._away_until = 0.0

    async def check(self, principal: Principal) -> None:
        """Take a token from the principal's key; TooManyRequests when it has none left."""
        # The tenant too: an end user's id is only unique within its tenant.
        await self._check(f"{principal.tenant_id}/{principal.actor}")

    async def check_tracker(self, token_digest: str) -> None:
        """Take a token from a browser tracker's bucket: its reports carry the token its
        start returned, not a key, and are limited per token at the keys' rate."""
        await self._check(f"tracker/{token_digest}")

    async def _check(self, name: str) -> None:
        if self.limit is None:
            return
        wait = await self.take(name, self.limit)
        if wait > 0:
            self.rt.metrics.rate_limited.inc()
            raise TooManyRequests(
                f"this key may send {self.limit.rate:g} requests a second "
                f"({self.limit.burst:g} at once): try again in {wait:.2f} s",
                retry_after_s=wait,
                code="rate_limited",
            )

    async def take(self, name: str, limit: Limit) -> float:
        """Take a token from the bucket ``name`` (shared in Redis when there is one): 0 when
        the request may go on, else the seconds until a token is back. Names of other
        buckets than keys' carry a prefix of their own (``login/…``)."""
        wait = await self._shared_take(name, limit)
        if wait is not None:
            return wait
        now = self.rt.clock.now_ms()
        if len(self._buckets) >= MAX_LOCAL_BUCKETS:
            self._forget_full(now)
        held = self._buckets.get(name)
        bucket, wait = take(None if held is None else held[0], now, limit)
        self._buckets[name] = (bucket, limit)
        return wait

    def _forget_full(self, now: int) -> None:
        """Drop the buckets that have filled up again: a new one is the same. Bounds the
        buckets a stream of new names (client addresses) leaves in the process."""
        full = [
            name
            for name, (bucket, limit) in self._buckets.items()
            if now - bucket.at_ms >= limit.refill_ms
        ]
        for name in full:
            del self._buckets[name]

    async def _shared_take(self, name: str, limit: Limit) -> float | None:
        """The wait from the bucket in Redis; None when there is no Redis to ask now."""
        if self._script is None or monotonic_s() < self._away_until:
            return None
        args = [self.rt.clock.now_ms(), limit.rate, limit.burst, limit.refill_ms]
        try:
            allowed, wait_us = await self._script(keys=[self._prefix + name], args=args)
        except (RedisError, OSError) as exc:
            log.warning("redis unavailable (%s): rate limits are per process for now", exc)
            self._away_until = monotonic_s() + REDIS_RETRY_AFTER_S
            return None
        return 0.0 if allowed else int(wait_us) / 1_000_000
