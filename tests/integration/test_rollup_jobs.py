"""The rollup job in bounded chunks, rebuilds that resume, retention that keeps aggregates,
and duplicate events across concurrent writers, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from sessionkeeper.assembly import build_services
from sessionkeeper.clock import ManualClock
from sessionkeeper.domain.principal import Principal, operator
from sessionkeeper.events import store as event_store
from sessionkeeper.events.rules import EventFilter, EventType, NewEvent, Outcome
from sessionkeeper.events.service import EventService
from sessionkeeper.rollups import service as rollup_service
from sessionkeeper.rollups import store as rollup_store
from sessionkeeper.rollups.bundle import Rollups
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.sessions import StartRequest
from sessionkeeper.settings.service import SettingsService
from tests.support import settings_for

DAY = 86_400_000
T = int(datetime(2026, 2, 1, 12, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def services(db_url: str) -> Iterator[Services]:
    runtime = Runtime.open(
        settings_for(db_url, event_retention_days=3), clock=ManualClock(T - 40 * DAY)
    )
    runtime.db.migrate()
    built = build_services(runtime)
    yield built
    runtime.close()


def tenant(services: Services, name: str = "t") -> Principal:
    found = services.tenants.create_tenant(name)
    return operator(found.id, name)


def rows(services: Services, principal: Principal) -> dict[tuple[date, str], tuple[int, ...]]:
    found = services.runtime.db.reader.run_sync(
        lambda conn: rollup_store.rows_between(conn, principal, date(2000, 1, 1), date(2100, 1, 1))
    )
    return {
        (r.day, r.kind): (r.sessions_active, r.duration_total_ms, r.events_total, r.users)
        for r in found
    }


async def history(services: Services, principal: Principal, days: int) -> None:
    """A session and an event on each of ``days`` days, one day apart."""
    clock = services.runtime.clock
    assert isinstance(clock, ManualClock)
    for i in range(days):
        sid = f"s{i}"
        await services.sessions.start(principal, StartRequest(id=sid, user_id="u", kind="k"))
        event = NewEvent(
            event_id=f"e{i}", user_id="u", type=EventType.PAGE_VIEW, name="/", session_id=sid
        )
        await services.of(EventService).ingest(principal, [event])
        clock.advance(600)
        await services.sessions.end(principal, sid)
        clock.advance(DAY / 1000 - 600)


def test_a_refresh_writes_in_bounded_chunks(services: Services) -> None:
    """However many days are marked, each write op of a refresh replaces at most CHUNK
    day-parts, and the computing happens outside the writer."""
    principal = tenant(services)
    writer = services.runtime.db.writer

    async def scenario() -> rollup_service.RefreshResult:
        await history(services, principal, 40)
        before = writer.stats.ops
        result = await services.of(Rollups).refresher.refresh(principal.tenant_id)
        # One op marks the open sessions' days, then one op per chunk, nothing else.
        assert writer.stats.ops - before == 1 + len(result.chunks)
        return result

    result = asyncio.run(scenario())
    assert result.refreshed == 80  # 40 days, a sessions part and an events part each
    assert max(result.chunks) == rollup_service.CHUNK
    assert all(size <= rollup_service.CHUNK for size in result.chunks)
    assert len(rows(services, principal)) == 40


def test_a_rebuild_recomputes_everything_and_resumes(services: Services) -> None:
    principal = tenant(services)
    refresher = services.of(Rollups).refresher

    class Interrupted(Exception):
        pass

    def interrupt(_n: int) -> None:
        raise Interrupted

    async def scenario() -> None:
        await history(services, principal, 10)
        await refresher.refresh()
        kept = rows(services, principal)
        await services.runtime.db.writer.run(
            lambda tx: rollup_store.replace_day(tx.conn, principal.tenant_id, min(kept)[0], [])
        )
        assert len(rows(services, principal)) == 9
        starts: list[tuple[int, bool]] = []
        with pytest.raises(Interrupted):  # stopped after its first chunk
            await refresher.rebuild(
                principal, chunk=4, on_start=lambda n, r: starts.append((n, r)), progress=interrupt
            )
        assert starts[0][1] is False and starts[0][0] >= 20
        left = await refresher.pending(principal.tenant_id)
        assert 0 < left < starts[0][0]
        await refresher.rebuild(principal, on_start=lambda n, r: starts.append((n, r)))
        assert starts[1] == (left, True)  # resumed where it stopped, not marked again
        assert rows(services, principal) == kept
        assert await refresher.pending(principal.tenant_id) == 0

    asyncio.run(scenario())


def test_retention_drops_raw_events_and_keeps_their_aggregates(services: Services) -> None:
    principal = tenant(services)
    rollups = services.of(Rollups)
    clock = services.runtime.clock
    assert isinstance(clock, ManualClock)

    async def scenario() -> None:
        await history(services, principal, 10)
        await rollups.refresher.refresh()
        kept = rows(services, principal)
        assert sum(events for _, _, events, _ in kept.values()) == 10
        dropped = await rollups.retention.run()
        # Retention of 3 days: every event older than now - 3 days goes, the others stay.
        assert dropped == 7
        left = await services.of(EventService).list(principal, EventFilter(), limit=50, after=None)
        assert [e.event_id for e in left[0]] == ["e9", "e8", "e7"]
        assert rows(services, principal) == kept
        # Recomputing those days (a rebuild) keeps what the dropped events had counted.
        await rollups.refresher.rebuild(principal)
        assert rows(services, principal) == kept

    asyncio.run(scenario())


def test_duplicate_events_from_concurrent_writers_are_stored_once(db_url: str) -> None:
    """Two server processes (two writers on one database) store the same event ids from
    many concurrent requests: each event once, and exactly one request says ``stored``."""
    runtimes = [Runtime.open(settings_for(db_url), clock=ManualClock(T)) for _ in range(2)]
    runtimes[0].db.migrate()
    services = [build_services(rt) for rt in runtimes]
    principal = tenant(services[0])
    outcomes: list[tuple[str, Outcome]] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        rt = runtimes[i % 2]
        # Overlapping batches in opposite orders: e0..e99 forwards and backwards.
        ids = [f"e{n}" for n in range(100)]
        batch = [
            NewEvent(event_id=e, user_id="u", type=EventType.ACTION, name="x", at=T)
            for e in (ids if i % 2 else reversed(ids))
        ]
        found = rt.db.writer.run_sync(lambda tx: event_store.store_batch(tx, principal, batch, T))
        with lock:
            outcomes.extend((e.event_id, o.outcome) for e, o in zip(batch, found, strict=True))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        stored = [e for e, outcome in outcomes if outcome is Outcome.STORED]
        assert sorted(stored) == sorted(f"e{n}" for n in range(100))
        assert sum(1 for _, o in outcomes if o is Outcome.DUPLICATE) == 700
        listed = runtimes[0].db.reader.run_sync(
            lambda conn: event_store.list_events(
                conn, principal, EventFilter(), limit=500, after=None
            )
        )
        assert len(listed) == 100
    finally:
        for rt in runtimes:
            rt.close()


def test_time_zone_setting_is_per_tenant(services: Services) -> None:
    first, second = tenant(services, "a"), tenant(services, "b")
    settings = services.of(SettingsService)

    async def scenario() -> None:
        await settings.put(first, timezone="Pacific/Auckland")
        assert await settings.timezone(first) == "Pacific/Auckland"
        assert await settings.timezone(second) == "UTC"

    asyncio.run(scenario())


def test_live_counts_read_the_index_of_active_sessions(sqlite_url: str) -> None:
    runtime = Runtime.open(settings_for(sqlite_url))
    runtime.db.migrate()
    try:
        query = rollup_store.live_query(operator(1, "t"), T)
        sql = str(query.compile(runtime.db.read_engine, compile_kwargs={"literal_binds": True}))
        with runtime.db.read_engine.connect() as conn:
            plan = " ".join(str(row) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    finally:
        runtime.close()
    assert "SEARCH sessions USING INDEX ix_sessions_active_tenant_kind" in plan, plan
