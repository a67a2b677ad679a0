"""The rollup job catching up after an hour of ingest: the time of one refresh of the days an
hour of sessions and events touched, against the bare SQL computing those days' answer.

An hour at the ingest goal (50,000 events/s) is 180,000,000 events, more than this machine
holds in a benchmark's time; the hour here holds ``EVENTS`` events (5,000,000 in a full run)
in sessions of five, inserted in bulk, then marked as their writes would have marked them.
The refresh is the real job (``RollupService.refresh``), reading on the read pool and writing
in chunks through the writer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.analytics_data import DAY_MS, Spread, bare_daily, insert_history
from bench.config import RunConfig
from bench.databases import bare_engine, database, postgres_available, settings_for
from bench.populate import now_ms, prepare
from bench.report import Case, Outcome
from sessionkeeper.assembly import build_services
from sessionkeeper.clock import ManualClock
from sessionkeeper.rollups import store
from sessionkeeper.rollups.bundle import Rollups
from sessionkeeper.rollups.rules import Part
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.settings.rules import day_of, days, zone

NAME = "rollup"
HOUR_MS = 3_600_000


def catch_up(url: str, tenant_id: int, now: int) -> tuple[float, int]:
    runtime = Runtime.open(settings_for(url), clock=ManualClock(now))
    try:
        refresher = build_services(runtime).of(Rollups).refresher
        utc = zone("UTC")
        touched = [
            (tenant_id, day, part)
            for day in days(day_of(now - HOUR_MS, utc), day_of(now, utc))
            for part in Part
        ]
        runtime.db.writer.run_sync(lambda tx: store.mark(tx.conn, touched))
        began = time.perf_counter()
        result = asyncio.run(refresher.refresh())
        return time.perf_counter() - began, result.refreshed
    finally:
        runtime.close()


def measure(backend: str, events: int) -> dict[str, Any]:
    with database(backend) as url:
        tenant = prepare(url)
        now = now_ms()
        spread = Spread(tenant.id, events // 5, now, span_ms=HOUR_MS)
        populate_s = insert_history(url, spread)
        seconds, refreshed = catch_up(url, tenant.id, now)
        engine = bare_engine(url)
        try:
            with engine.connect() as conn:
                began = time.perf_counter()
                covered = (now - (now - HOUR_MS) // DAY_MS * DAY_MS) // DAY_MS + 1
                bare_daily(conn, tenant.id, now, int(covered))
                bare = time.perf_counter() - began
        finally:
            engine.dispose()
    return {
        "events": events,
        "sessions": events // 5,
        "populate_s": round(populate_s, 1),
        "day_parts": refreshed,
        "catch_up_s": seconds,
        "bare_s": bare,
    }


def run(config: RunConfig) -> Outcome:
    events = config.size(5_000_000, 100_000)
    outcome = Outcome(NAME, settings={"events_in_the_hour": events, "sessions": events // 5})
    for backend in config.backends:
        if backend == "postgresql" and not postgres_available():
            outcome.skipped.append("PostgreSQL not reachable")
            continue
        raw = measure(backend, events)
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        outcome.cases.append(
            Case(
                name=f"rollup catch-up after an hour of {events:,} events ({label})",
                measured=raw["catch_up_s"],
                baseline=raw["bare_s"],
                unit="s",
                goal="reported",
                met=None,
                note=f"{raw['day_parts']} day-parts",
                raw=raw,
            )
        )
    return outcome
