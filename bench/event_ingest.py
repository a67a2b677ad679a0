"""``POST /v1/events``, 1,000 events per request, against a bare ``executemany`` of the same
rows as INSERT … ON CONFLICT DO NOTHING, one commit per 1,000, on the same database.

Every event belongs to one of ``SESSIONS`` open sessions (so each is also a heartbeat, as in
real use), has a fresh id, a page name and small properties. The baseline inserts the same
rows (with the kind the server looks up) through an engine configured like the server's
writer. Baseline and HTTP passes alternate; the first pair warms up and is dropped.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from typing import Any

import httpx
import sqlalchemy as sa

from bench.config import RunConfig
from bench.databases import database, postgres_available
from bench.populate import Population, now_ms, populate, prepare, session_id
from bench.report import Case, Outcome
from bench.server import running_server
from sessionkeeper.events.tables import events
from sessionkeeper.storage.dialect import insert_ignoring_conflicts
from sessionkeeper.storage.engine import create_engine

NAME = "events"
BATCH = 1000
CONCURRENCY = 4
SESSIONS = 10_000
GOAL_RATIO = 0.5
GOAL_SQLITE_RATE = 50_000
PREFIX = "ev-"


def make_pass(number: int, per_pass: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    """One pass: ``per_pass`` events in batches of ``BATCH``, ids unique across passes."""
    items = [
        {
            "event_id": f"p{number}-{i}",
            "session_id": session_id(PREFIX, rng.randrange(SESSIONS)),
            "user_id": f"user-{i % 5000}",
            "type": "page_view",
            "name": f"/page-{i % 200}",
            "properties": {"ref": "bench"},
        }
        for i in range(per_pass)
    ]
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def bare_rows(tenant_id: int, batch: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    return [
        {**item, "tenant_id": tenant_id, "kind": "game", "at": at, "received_at": at}
        for item in batch
    ]


def run_baseline(engine: sa.Engine, batches: list[list[dict[str, Any]]]) -> float:
    began = time.perf_counter()
    for batch in batches:
        with engine.begin() as conn:
            conn.execute(insert_ignoring_conflicts(conn, events), batch)
    return time.perf_counter() - began


async def run_http(client: httpx.AsyncClient, bodies: list[bytes]) -> tuple[float, int]:
    queue = list(reversed(bodies))
    stored = 0

    async def worker() -> None:
        nonlocal stored
        while queue:
            response = await client.post("/v1/events", content=queue.pop())
            response.raise_for_status()
            stored += int(response.json()["stored"])

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - began, stored


async def alternate(
    url: str, base_url: str, key: str, tenant_id: int, passes: int, per_pass: int
) -> tuple[list[float], list[tuple[float, int]]]:
    rng = random.Random(7)
    engine = create_engine(url, role="writer")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    base: list[float] = []
    http: list[tuple[float, int]] = []
    try:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
            for p in range(passes + 1):
                now = now_ms()
                plain = make_pass(2 * p, per_pass, rng)
                base.append(run_baseline(engine, [bare_rows(tenant_id, b, now) for b in plain]))
                bodies = [
                    json.dumps({"events": batch}).encode()
                    for batch in make_pass(2 * p + 1, per_pass, rng)
                ]
                http.append(await run_http(client, bodies))
    finally:
        engine.dispose()
    return base[1:], http[1:]


def measure(backend: str, passes: int, per_pass: int) -> dict[str, Any]:
    with database(backend) as url:
        tenant = prepare(url)
        spec = Population(tenant.id, SESSIONS, now_ms(), prefix=PREFIX, timeout_ms=6 * 3_600_000)
        populate(url, spec)
        with running_server(url) as server:
            base, http = asyncio.run(
                alternate(url, server.base_url, tenant.key, tenant.id, passes, per_pass)
            )
    return {
        "events_per_pass": per_pass,
        "baseline_rate": statistics.median(per_pass / s for s in base),
        "http_rate": statistics.median(per_pass / s for s, _ in http),
        "baseline_seconds": base,
        "http_seconds": [s for s, _ in http],
        "http_stored": [n for _, n in http],
    }


def run(config: RunConfig) -> Outcome:
    passes = config.size(3, 2)
    per_pass = config.size(100_000, 10_000)
    outcome = Outcome(
        NAME,
        settings={
            "batch": BATCH,
            "client_concurrency": CONCURRENCY,
            "sessions": SESSIONS,
            "events_per_pass": per_pass,
            "timed_passes": passes,
            "sqlite_synchronous": "FULL",
        },
    )
    for backend in config.backends:
        if backend == "postgresql" and not postgres_available():
            outcome.skipped.append("PostgreSQL not reachable")
            continue
        raw = measure(backend, passes, per_pass)
        measured, baseline = float(raw["http_rate"]), float(raw["baseline_rate"])
        met = measured / baseline >= GOAL_RATIO
        goal = f"ratio ≥ {GOAL_RATIO}"
        if backend == "sqlite":
            goal += f" and ≥ {GOAL_SQLITE_RATE:,}/s"
            met = met and measured >= GOAL_SQLITE_RATE
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        outcome.cases.append(
            Case(
                name=f"event ingest, 1,000/request over HTTP ({label})",
                measured=measured,
                baseline=baseline,
                unit="events/s",
                goal=goal,
                met=met,
                raw=raw,
            )
        )
    return outcome
