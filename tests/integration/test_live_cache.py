"""Live metrics cached in the real Redis (127.0.0.1:6379) under a key prefix of this test:
a flush or a Redis that is away changes nothing but freshness."""

from __future__ import annotations

import redis.asyncio as redis

from tests.support import REDIS_URL, Harness, running_app


async def live(api: Harness) -> tuple[int, int]:
    body = (await api.get("/v1/metrics/live")).json()
    return body["active_sessions"], body["active_users"]


async def test_the_cache_only_changes_freshness(sqlite_url: str, redis_prefix: str) -> None:
    async with running_app(
        sqlite_url, redis_url=REDIS_URL, redis_prefix=redis_prefix, live_cache_ttl_s=60
    ) as api:
        await api.post("/v1/sessions", {"id": "a", "user_id": "u1", "kind": "web"})
        assert await live(api) == (1, 1)
        await api.post("/v1/sessions", {"id": "b", "user_id": "u2", "kind": "web"})
        assert await live(api) == (1, 1)  # the cached answer, within its time to live
        client = redis.Redis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*")]
        assert keys, "the answer was cached under the prefix"
        await client.delete(*keys)  # what a flush or a restart of Redis does to it
        await client.aclose()
        assert await live(api) == (2, 2)  # read again from the database, nothing lost


async def test_an_unreachable_redis_answers_from_the_database(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with running_app(
        sqlite_url, redis_url="redis://127.0.0.1:1/0", redis_prefix=redis_prefix
    ) as api:
        await api.post("/v1/sessions", {"id": "a", "user_id": "u1", "kind": "web"})
        assert await live(api) == (1, 1)
        await api.post("/v1/sessions", {"id": "b", "user_id": "u2", "kind": "web"})
        assert await live(api) == (2, 2)
