"""``GET /v1/metrics/daily?days=30`` over a long history, against the bare SQL computing the
same answer from the raw tables in the same run.

The history: ``SESSIONS`` closed sessions over 60 days with five events each (1,000,000 and
5,000,000 in a full run), built into rollups once by a rebuild (its time is reported too).
The endpoint is timed over HTTP on the real server; the baseline runs two plain queries
(sessions split over the days they covered, events grouped by day, kind and name) on the
same database. Both report the 95th percentile of ``REPEAT`` runs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import httpx

from bench.analytics_data import Spread, bare_daily, insert_history
from bench.config import RunConfig
from bench.databases import bare_engine, database, postgres_available, settings_for
from bench.populate import now_ms, prepare
from bench.report import Case, Outcome
from bench.server import running_server
from sessionkeeper.assembly import build_services
from sessionkeeper.clock import ManualClock
from sessionkeeper.domain.principal import Scope, operator
from sessionkeeper.rollups.bundle import Rollups
from sessionkeeper.services.runtime import Runtime

NAME = "metrics"
GOAL_RATIO = 0.1


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def rebuild(url: str, tenant_id: int, now: int) -> float:
    runtime = Runtime.open(settings_for(url), clock=ManualClock(now))
    try:
        rollups = build_services(runtime).of(Rollups).refresher
        began = time.perf_counter()
        asyncio.run(rollups.rebuild(operator(tenant_id, "bench")))
        return time.perf_counter() - began
    finally:
        runtime.close()


def measure(backend: str, sessions: int, repeat: int) -> dict[str, Any]:
    with database(backend) as url:
        tenant = prepare(url, Scope.READ)
        now = now_ms()
        populate_s = insert_history(url, Spread(tenant.id, sessions, now))
        rebuild_s = rebuild(url, tenant.id, now)
        engine = bare_engine(url)
        bare: list[float] = []
        try:
            for _ in range(repeat):
                with engine.connect() as conn:
                    began = time.perf_counter()
                    bare_daily(conn, tenant.id, now, 30)
                    bare.append(time.perf_counter() - began)
        finally:
            engine.dispose()
        served: list[float] = []
        with running_server(url) as server:
            headers = {"Authorization": f"Bearer {tenant.key}"}
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
                client.get("/v1/metrics/daily", params={"days": 30}).raise_for_status()
                for _ in range(max(repeat, 50)):
                    began = time.perf_counter()
                    response = client.get("/v1/metrics/daily", params={"days": 30})
                    served.append(time.perf_counter() - began)
                    response.raise_for_status()
                rows = len(response.json()["rows"])
    return {
        "sessions": sessions,
        "events": sessions * 5,
        "rows": rows,
        "populate_s": round(populate_s, 1),
        "rebuild_s": round(rebuild_s, 1),
        "http_p95_s": p95(served),
        "bare_p95_s": p95(bare),
        "http_seconds": served,
        "bare_seconds": bare,
    }


def run(config: RunConfig) -> Outcome:
    sessions = config.size(1_000_000, 20_000)
    repeat = config.size(10, 5)
    outcome = Outcome(NAME, settings={"sessions": sessions, "events": sessions * 5, "days": 60})
    for backend in config.backends:
        if backend == "postgresql" and not postgres_available():
            outcome.skipped.append("PostgreSQL not reachable")
            continue
        raw = measure(backend, sessions, repeat)
        measured, baseline = raw["http_p95_s"], raw["bare_p95_s"]
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        outcome.cases.append(
            Case(
                name=f"GET /v1/metrics/daily?days=30 p95, {sessions:,} sessions ({label})",
                measured=measured,
                baseline=baseline,
                unit="s",
                goal=f"ratio ≤ {GOAL_RATIO}",
                met=measured / baseline <= GOAL_RATIO,
                note=f"rebuild {raw['rebuild_s']} s",
                raw=raw,
            )
        )
    return outcome
