"""An optional Redis cache of live metrics. Redis is never the record: a miss, a flush, a
restart or an unreachable Redis only means the answer is read from the database again."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from sessionkeeper.clock import monotonic_s

log = logging.getLogger(__name__)

# A Redis that does not answer within this is treated as away, and left alone for a while.
TIMEOUT_S = 0.25
RETRY_AFTER_S = 5.0


class LiveCache:
    def __init__(self, url: str, prefix: str, ttl_s: float) -> None:
        self.prefix = prefix
        self.ttl_ms = max(1, round(ttl_s * 1000))
        self._redis = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )
        self._away_until = 0.0

    def key(self, tenant_id: int) -> str:
        return f"{self.prefix}live:{tenant_id}"

    async def get(self, tenant_id: int) -> dict[str, Any] | None:
        if monotonic_s() < self._away_until:
            return None
        try:
            raw = await self._redis.get(self.key(tenant_id))
        except (RedisError, OSError) as exc:
            self._away(exc)
            return None
        return None if raw is None else dict(json.loads(raw))

    async def put(self, tenant_id: int, value: dict[str, Any]) -> None:
        if monotonic_s() < self._away_until:
            return
        try:
            await self._redis.set(self.key(tenant_id), json.dumps(value), px=self.ttl_ms)
        except (RedisError, OSError) as exc:
            self._away(exc)

    def _away(self, exc: Exception) -> None:
        log.warning("redis cache unavailable (%s); reading live metrics from the database", exc)
        self._away_until = monotonic_s() + RETRY_AFTER_S

    async def close(self) -> None:
        await self._redis.aclose()
