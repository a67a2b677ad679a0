"""Rate limits shared through the real Redis (127.0.0.1:6379, a key prefix of the test's own):
every process takes from the same bucket; a flush or an unreachable Redis loses nothing,
closes no session and refuses no one for it."""

from __future__ import annotations

import random

import redis.asyncio as redis

from sessionkeeper.clock import ManualClock
from sessionkeeper.domain.rate_limit import Bucket, Limit, take
from sessionkeeper.services.rate_limits import TAKE_SCRIPT
from tests.support import REDIS_URL, T0, running_app


def limits(prefix: str, url: str = REDIS_URL) -> dict[str, object]:
    return {
        "redis_url": url,
        "redis_prefix": prefix,
        "rate_limit_per_key": 1,
        "rate_limit_burst": 4,
    }


async def test_two_processes_take_from_one_bucket(sqlite_url: str, redis_prefix: str) -> None:
    clock = ManualClock(T0)
    async with (
        running_app(sqlite_url, clock, **limits(redis_prefix)) as one,
        running_app(sqlite_url, clock, **limits(redis_prefix)) as two,
    ):
        key = one.keys["ingest"]  # one database: both processes know the key
        headers = {"Authorization": f"Bearer {key}"}

        async def start(api, sid: str) -> int:  # type: ignore[no-untyped-def]
            body = {"id": sid, "user_id": "u", "kind": "game"}
            return (await api.client.post("/v1/sessions", json=body, headers=headers)).status_code

        assert [await start(api, f"s{n}") for n, api in enumerate([one, two, one, two])] == [
            201
        ] * 4
        assert (await start(two, "s4"), await start(one, "s5")) == (429, 429)
        # A flush of Redis (or its restart) refills the buckets and changes nothing else.
        client = redis.Redis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(match=f"{redis_prefix}*")]
        assert keys, "the bucket lives in Redis under the prefix"
        await client.delete(*keys)
        await client.aclose()
        assert await start(two, "s6") == 201
        listed = (await one.get("/v1/sessions", status="active")).json()["items"]
        assert sorted(s["id"] for s in listed) == ["s0", "s1", "s2", "s3", "s6"]


async def test_an_unreachable_redis_limits_per_process(sqlite_url: str, redis_prefix: str) -> None:
    async with running_app(sqlite_url, **limits(redis_prefix, "redis://127.0.0.1:1/0")) as api:
        codes = []
        for n in range(5):
            body = {"id": f"s{n}", "user_id": "u", "kind": "game"}
            codes.append((await api.post("/v1/sessions", body, "ingest")).status_code)
        assert codes == [201, 201, 201, 201, 429]
        api.advance(1)
        assert (await api.post("/v1/sessions/s0/heartbeat", {}, "ingest")).status_code == 200


async def test_the_redis_script_follows_the_pure_rule(redis_prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    script = client.register_script(TAKE_SCRIPT)
    rng = random.Random(7)
    try:
        for case in range(20):
            limit = Limit(rate=rng.choice([0.5, 1, 3, 10]), burst=rng.choice([1, 2, 5, 20]))
            bucket: Bucket | None = None
            now = T0
            for step in range(60):
                now += rng.choice([0, 0, 0, 50, 100, 333, 1_000, 4_000, -200])
                bucket, wait = take(bucket, now, limit)
                args = [now, limit.rate, limit.burst, limit.refill_ms]
                allowed, wait_us = await script(keys=[f"{redis_prefix}{case}"], args=args)
                assert bool(allowed) == (wait == 0), (case, step)
                assert abs(int(wait_us) / 1e6 - wait) < 1e-5, (case, step)
    finally:
        await client.aclose()
