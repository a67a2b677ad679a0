"""5. Reconciling a 10,000-entry presence snapshot in which 1% changed, against a bare SELECT.

The source first gets 10,000 sessions from an initial snapshot (then, on PostgreSQL, the
statistics autovacuum would gather within a minute). Each timed round then applies a snapshot
one second later in which 100 entries left and 100 new ones joined (100 ends, 100 starts, and
9,900 refreshes, which are one heartbeat of the source), through ``PresenceService.snapshot``
and the real writer. The baseline, timed right after each round, is a bare SELECT of that
source's active sessions (the rows reconciliation has to read) on an open connection.

As the server runs, each round matches against the open sessions the process kept from the
round before (``services/source_cache.py``); the same rounds with that cache off (every
snapshot reads the source) are reported beside them.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from bench.config import RunConfig
from bench.databases import bare_engine, database, postgres_available, settings_for
from bench.populate import now_ms, prepare
from bench.report import Case, Outcome
from sessionkeeper.api.heap import freeze_startup_heap
from sessionkeeper.assembly import build_services
from sessionkeeper.clock import ManualClock
from sessionkeeper.domain.presence import PresenceEntry
from sessionkeeper.domain.principal import operator
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime

NAME = "presence"
SOURCE = "bench-source"
ENTRIES = 10_000
CHANGED = 100
GOAL_RATIO = 3.0

SELECT = sa.text(
    "SELECT id, user_id, kind, label, started_at FROM sessions "
    "WHERE tenant_id = :tenant AND source = :source AND status = 'active'"
)


def entry(user: str) -> PresenceEntry:
    return PresenceEntry(user, "game", "Minecraft", {"platform": "pc"})


def snapshots(rounds: int) -> Iterator[list[PresenceEntry]]:
    """The initial snapshot, then ``rounds`` each with ``CHANGED`` entries replaced.

    Made one at a time, as a server parses one request at a time: a plan of every round held
    at once would be hundreds of thousands of live objects that each full collection of the
    garbage collector walks, a cost no serving process has."""
    users = [f"user-{i}" for i in range(ENTRIES)]
    yield [entry(u) for u in users]
    for r in range(rounds):
        users = users[CHANGED:] + [f"user-r{r}-{i}" for i in range(CHANGED)]
        yield [entry(u) for u in users]


def bare_select(conn: sa.Connection, tenant_id: int) -> tuple[float, int]:
    began = time.perf_counter()
    rows = conn.execute(SELECT, {"tenant": tenant_id, "source": SOURCE}).all()
    elapsed = time.perf_counter() - began
    conn.rollback()
    return elapsed, len(rows)


async def _rounds(
    services: Services,
    clock: ManualClock,
    tenant_id: int,
    url: str,
    plan: Iterator[list[PresenceEntry]],
) -> tuple[list[float], list[float], list[dict[str, int]]]:
    presence = services.presence
    principal = operator(tenant_id, "bench")
    await presence.snapshot(principal, SOURCE, next(plan))
    engine = bare_engine(url)
    reconcile, select, counts = [], [], []
    try:
        if engine.dialect.name == "postgresql":
            # What autovacuum does within a minute of the first snapshot's 10,000 rows:
            # without statistics the planner takes the table for empty.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE sessions"))
        with engine.connect() as conn:
            bare_select(conn, tenant_id)  # warm the connection
            for entries in plan:
                clock.advance(1)
                began = time.perf_counter()
                outcome = await presence.snapshot(principal, SOURCE, entries)
                reconcile.append(time.perf_counter() - began)
                seconds, rows = bare_select(conn, tenant_id)
                select.append(seconds)
                counts.append(
                    {
                        "started": len(outcome.diff.to_start),
                        "refreshed": len(outcome.diff.to_refresh),
                        "ended": len(outcome.diff.to_end),
                        "selected": rows,
                    }
                )
    finally:
        engine.dispose()
    return reconcile, select, counts


def measure(backend: str, rounds: int, *, cached: bool = True) -> dict[str, Any]:
    with database(backend) as url:
        tenant = prepare(url)
        clock = ManualClock(now_ms())
        settings = settings_for(url) if cached else settings_for(url, presence_cache_sessions=0)
        runtime = Runtime.open(settings, clock=clock)
        try:
            services = build_services(runtime)
            # As a serving process does once started (``api/heap.py``): full collections then
            # walk only what was allocated since, not every module and compiled statement.
            freeze_startup_heap()
            reconcile, select, counts = asyncio.run(
                _rounds(services, clock, tenant.id, url, snapshots(rounds + 1))
            )
            stats = services.presence.cache.stats
        finally:
            runtime.close()
    # The first changed snapshot warms caches and is left out.
    reconcile, select, counts = reconcile[1:], select[1:], counts[1:]
    return {
        "reconcile_s": reconcile,
        "select_s": select,
        "reconcile_median_s": statistics.median(reconcile),
        "select_median_s": statistics.median(select),
        "counts": counts,
        "cache": {"hits": stats.hits, "misses": stats.misses},
    }


def run(config: RunConfig) -> Outcome:
    rounds = config.size(25, 5)
    outcome = Outcome(
        NAME,
        settings={
            "entries": ENTRIES,
            "changed_per_round": CHANGED,
            "timed_rounds": rounds,
            "path": "PresenceService.snapshot (in process, real writer)",
            "sqlite_synchronous": "FULL",
        },
    )
    for backend in config.backends:
        if backend == "postgresql" and not postgres_available():
            outcome.skipped.append("PostgreSQL not reachable")
            continue
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        for cached in (True, False):
            raw = measure(backend, rounds, cached=cached)
            measured = float(raw["reconcile_median_s"])
            baseline = float(raw["select_median_s"])
            outcome.cases.append(
                Case(
                    name=(
                        f"presence snapshot, {ENTRIES:,} entries, 1% changed ({label})"
                        + ("" if cached else ", cache off")
                    ),
                    measured=measured,
                    baseline=baseline,
                    unit="s",
                    goal=f"ratio ≤ {GOAL_RATIO:.0f}" if cached else "— (reported)",
                    met=measured / baseline <= GOAL_RATIO if cached else None,
                    note=f"cache hits {raw['cache']['hits']}, misses {raw['cache']['misses']}",
                    raw=raw,
                )
            )
    return outcome
