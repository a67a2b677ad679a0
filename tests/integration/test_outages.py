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


@pytest.mark.timeout(300)
def test_a_30_s_database_outage_costs_sdk_clients_nothing(pg_url: str) -> None:
    """Applications hold sessions through a 30 s outage of PostgreSQL (black-holed by the
    proxy) with a timeout of 6 s: every session ends as its application ended it, in one
    piece, none timed out, and nothing answered 2xx was lost."""
    import threading
    import time

    from sessionkeeper.client import Client, Status
    from tests.client.live import serve_url
    from tests.ledger import Ledger, Recording, as_stored, lost

    settings = {
        **FAST_FAILURE,
        "write_timeout_s": 2.0,
        "alive_interval_s": 1.0,
        "sweep_interval_s": 1.0,
    }
    ledger = Ledger()
    with proxied_postgres(pg_url) as (proxy, url), serve_url(url, **settings) as server:
        tenant = server.new_tenant()
        with Client(server.base_url, tenant.admin) as admin:
            admin.put_policy("*", heartbeat_interval_s=2, timeout_s=6, grace_s=1)
        entered, leave = threading.Barrier(9), threading.Event()
        handles = []
        truth: dict[int, tuple[float, float]] = {}

        def application(n: int) -> None:
            options = {"backoff": 0.05, "retries": 1, "timeout": 3, "transport": Recording(ledger)}
            with (
                Client(server.base_url, tenant.ingest, **options) as client,  # type: ignore[arg-type]
                client.session(f"user-{n}", "app", drain_wait=60) as s,
            ):
                began = time.time()
                handles.append(s)
                entered.wait(30)
                leave.wait(120)
                truth[n] = (began, time.time())

        threads = [threading.Thread(target=application, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        entered.wait(30)
        time.sleep(3)
        proxy.set("blackhole")  # 30 s: five timeouts long
        time.sleep(30)
        proxy.set("pass")
        time.sleep(8)  # the applications go on, then leave
        leave.set()
        for thread in threads:
            thread.join(120)
        with Client(server.base_url, tenant.admin) as admin:
            stored = {s.id: s for s in admin.iter_sessions()}
            metrics = server.app.state.services.runtime.metrics
    assert len(handles) == 8 and all(h.pending == 0 for h in handles)
    # One session per application, ended by it, never timed out, never amended, no
    # continuation: the outage cost no time.
    assert len(stored) == 8
    for session in stored.values():
        assert (session.status, session.estimated) == (Status.ENDED, False), session
        assert session.amended_count == 0 and session.continues is None, session
        assert session.duration_s is not None and session.duration_s > 40
    assert metrics.sessions_timed_out.collect()[0].samples == []
    assert lost(ledger, as_stored(stored.values())) == []


def test_connections_that_pinged_into_a_black_hole_recover_at_the_ping_deadline(
    pg_url: str,
) -> None:
    """Every pooled connection checked out during a black hole sends its ping into it; that
    ping is never answered, even after the network is back. The pool must give such a
    connection up at the ping deadline (a connect's, 1 s here), not at the answer deadline of
    a statement (9 s here): otherwise each one holds a request that long after the outage."""
    import threading
    import time

    import sqlalchemy as sa

    from sessionkeeper.storage.engine import ConnectionLimits, create_engine

    limits = ConnectionLimits(connect_timeout_s=1.0, statement_timeout_s=8.0, pool_timeout_s=20)
    assert limits.answer_deadline_s == 9.0 and limits.ping_deadline_s == 1.0
    pool = 3
    with proxied_postgres(pg_url) as (proxy, url):
        engine = create_engine(url, role="reader", pool_size=pool, limits=limits)
        try:
            opened = [engine.connect() for _ in range(pool)]  # the pool holds three
            for conn in opened:
                conn.execute(sa.text("SELECT 1"))
                conn.close()
            time.sleep(1.2)  # idle long enough that each checkout pings first

            proxy.set("blackhole")
            finished: list[float] = []
            answers: list[object] = []

            def checkout() -> None:
                # A ping given up is replaced by a fresh connection, through the network
                # that is back by then: each checkout answers, and soon.
                with engine.connect() as conn:
                    answers.append(conn.execute(sa.text("SELECT 1")).scalar())
                finished.append(time.monotonic())

            threads = [threading.Thread(target=checkout) for _ in range(pool)]
            for thread in threads:
                thread.start()
            time.sleep(0.5)  # every ping is in the black hole now
            proxy.set("pass")
            back = time.monotonic()
            for thread in threads:
                thread.join(30)
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT 1")).scalar() == 1
            answered = time.monotonic()
        finally:
            engine.dispose()
    assert answers == [1] * pool
    assert len(finished) == pool
    # Within a few ping deadlines of the network's return, never the 9 s answer deadline.
    assert max(finished) - back < 4.0, [round(f - back, 1) for f in finished]
    assert answered - back < 6.0
