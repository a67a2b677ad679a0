"""The service's own unavailability is never client silence, and it answers fast meanwhile.

PostgreSQL is put behind a TCP proxy of the test's own (the shared server is never stopped):
``blackhole`` accepts and forwards nothing, the case where requests used to hang.
The lifecycle runs on a scripted clock; the timeouts are real seconds, kept short.
"""

from __future__ import annotations

import asyncio

import pytest

from sessionkeeper.clock import ManualClock
from tests.faults import proxied_postgres
from tests.support import T0, running_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FAST_FAILURE = {
    "write_timeout_s": 1.5,
    "database_connect_timeout_s": 1.0,
    "database_statement_timeout_s": 1.0,
    "health_timeout_s": 1.0,
}


async def test_a_black_holed_database_costs_no_time_and_gets_fast_503s(pg_url: str) -> None:
    clock = ManualClock(T0)
    with proxied_postgres(pg_url) as (proxy, url):
        async with running_app(url, clock, **FAST_FAILURE) as api:
            await api.put(
                "/v1/policies/*", {"heartbeat_interval_s": 2, "timeout_s": 6, "grace_s": 1}
            )
            for sid in ("kept", "died"):
                await api.post("/v1/sessions", {"id": sid, "user_id": sid, "kind": "app"})
            api.advance(2)
            for sid in ("kept", "died"):
                assert (await api.post(f"/v1/sessions/{sid}/heartbeat")).status_code == 200
            await api.services.liveness.note()  # what the periodic job does every few seconds
            died_last_seen = api.clock.now_ms()

            proxy.set("blackhole")  # the network drops everything from here
            beat = await api.post("/v1/sessions/kept/heartbeat")
            assert beat.status_code == 503 and "retry-after" in beat.headers
            start = await api.post("/v1/sessions", {"id": "lost", "user_id": "x", "kind": "app"})
            assert start.status_code == 503  # never a 2xx for a write that was not stored
            health = await api.get("/v1/health")
            assert health.status_code == 200 and health.json()["status"] == "down"
            assert health.json()["reasons"][0].startswith("database unavailable")

            api.advance(30)  # 30 s of outage, five times the timeout
            await asyncio.sleep(2.5)  # the watchdog cuts the connection that hangs
            proxy.set("pass")  # the database is back

            # The client that kept retrying finds its session open: the outage moved its
            # deadline by its length. Without that it would be 24 s overdue: a 409.
            back = await _retry_until_stored(api, "/v1/sessions/kept/heartbeat")
            assert back.json()["status"] == "active"
            assert (await api.get("/v1/sessions/lost")).status_code == 404
            # The client that died during the outage ends where it would have without it.
            api.advance(40)
            await api.post("/v1/maintenance/sweep")
            died = (await api.get("/v1/sessions/died")).json()
            assert died["status"] == "timed_out"
            assert died["ended_at"] == _iso(died_last_seen + 1_000)
            health = (await api.get("/v1/health")).json()
            assert health["status"] != "down"


async def _retry_until_stored(api, path: str):  # type: ignore[no-untyped-def]
    for _ in range(20):
        answer = await api.post(path)
        if answer.status_code != 503:
            assert answer.status_code == 200, answer.text
            return answer
        await asyncio.sleep(0.5)
    raise AssertionError("the database never came back")


def _iso(ms: int) -> str:
    from tests.support import iso

    return iso(ms).replace("+00:00", "Z")


async def test_a_full_writer_queue_sheds_load_with_503(sqlite_url: str) -> None:
    import threading

    async with running_app(sqlite_url, writer_max_queue=2) as api:
        writer = api.runtime.db.writer
        gate = threading.Event()
        blocker = writer.submit(lambda tx: gate.wait(10))
        await asyncio.sleep(0.05)  # the writer is inside the blocker now
        queued = [writer.submit(lambda tx: None) for _ in range(2)]
        refused = await api.post("/v1/sessions", {"user_id": "u", "kind": "app"})
        gate.set()
        blocker.result(5)
        for future in queued:
            future.result(5)
        assert refused.status_code == 503
        assert "retry-after" in refused.headers
        assert "writes are waiting" in refused.json()["detail"]
        assert (await api.post("/v1/sessions", {"user_id": "u", "kind": "app"})).status_code == 201
