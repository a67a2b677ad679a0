"""Login attempts to the dashboard are limited per client address, in the process and through
the real Redis (127.0.0.1:6379, a key prefix of the test's own) across processes."""

from __future__ import annotations

import httpx

from sessionkeeper.clock import ManualClock
from tests.api.test_dashboard import log_in
from tests.support import REDIS_URL, T0, Harness, running_app

PER_MINUTE = 3


async def _attempt(api: Harness, key: str, client: httpx.AsyncClient | None = None) -> int:
    """One login through ``client`` (by default the harness's, from 127.0.0.1)."""
    if client is None:
        return (await log_in(api, key)).status_code
    form_page = await client.get("/admin/login")
    token = client.cookies.get("sk_dashboard_login", path="/admin/login")
    assert form_page.status_code == 200 and token
    form = {"csrf": token, "key": key, "next": "/admin"}
    return (await client.post("/admin/login", data=form)).status_code


async def test_login_attempts_are_limited_per_client_address(sqlite_url: str) -> None:
    async with running_app(sqlite_url, dashboard_login_attempts_per_min=PER_MINUTE) as api:
        assert [await _attempt(api, "sk_guess") for _ in range(PER_MINUTE)] == [401] * 3
        refused = await log_in(api, api.keys["admin"])  # the right key, too many tries
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "20"  # 3 a minute: one more in 20 s
        assert "Too many login attempts from your address" in refused.text
        assert "text/html" in refused.headers["content-type"]
        # Another address is not held back by this one's attempts.
        other = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api.app, client=("192.0.2.7", 4000)),
            base_url="http://sk.test",
        )
        async with other:
            assert await _attempt(api, api.keys["admin"], other) == 303
        api.advance(19)
        assert (await log_in(api, api.keys["admin"])).status_code == 429
        api.advance(1)
        answer = await log_in(api, api.keys["admin"])
        assert answer.status_code == 303 and answer.headers["location"] == "/admin"


async def test_processes_share_the_login_limit_through_redis(
    sqlite_url: str, redis_prefix: str
) -> None:
    clock = ManualClock(T0)
    shared = {
        "redis_url": REDIS_URL,
        "redis_prefix": redis_prefix,
        "dashboard_login_attempts_per_min": PER_MINUTE,
    }
    async with (
        running_app(sqlite_url, clock, **shared) as one,
        running_app(sqlite_url, clock, **shared) as two,
    ):
        tries = [await _attempt(api, "sk_guess") for api in (one, two, one)]
        assert tries == [401, 401, 401]
        assert await _attempt(two, "sk_guess") == 429  # the fourth, in the other process
        assert await _attempt(one, "sk_guess") == 429
