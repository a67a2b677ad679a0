"""2. Batched heartbeats: 1,000 per ``POST /v1/heartbeats`` against a bare ``executemany``.

The baseline runs the same conditional UPDATE the server runs (``storage.sessions.
heartbeat_many``), 1,000 rows per ``executemany`` and one commit per batch, on the same
database, through an engine configured like the server's writer (same PRAGMAs, same BEGIN).
Each pass heartbeats every session once, in a shuffled order (batches are random subsets of
the table, as from real clients), at a time one second later than the pass before, so every
beat moves ``last_seen_at`` forward. Baseline and HTTP passes alternate.
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
from sessionkeeper.domain.times import from_ms
from sessionkeeper.storage.engine import create_engine

NAME = "batch"
BATCH = 1000
CONCURRENCY = 4
GOAL_RATIO = 0.7
GOAL_SQLITE_RATE = 100_000
PREFIX = "bb-"
Beats = list[tuple[str, int]]

UPDATE = sa.text(
    "UPDATE sessions SET last_seen_at = :at, expires_at = :at + timeout_ms "
    "WHERE tenant_id = :tenant AND id = :id AND status = 'active' "
    "AND last_seen_at < :at AND expires_at >= :at"
)


def make_passes(sessions: int, first_at: int, passes: int) -> list[list[Beats]]:
    """``passes`` passes over all sessions, each a list of batches of ``BATCH`` beats."""
    ids = [session_id(PREFIX, n) for n in range(sessions)]
    random.Random(42).shuffle(ids)
    result = []
    for p in range(passes):
        at = first_at + p * 1000
        beats = [(sid, at) for sid in ids]
        result.append([beats[i : i + BATCH] for i in range(0, len(beats), BATCH)])
    return result


def baseline_params(tenant_id: int, batches: list[Beats]) -> list[list[dict[str, Any]]]:
    return [[{"at": at, "tenant": tenant_id, "id": sid} for sid, at in batch] for batch in batches]


def run_baseline(engine: sa.Engine, params: list[list[dict[str, Any]]]) -> float:
    """Seconds for one pass of the bare executemany, one commit per batch."""
    began = time.perf_counter()
    for batch in params:
        with engine.begin() as conn:
            conn.execute(UPDATE, batch)
    return time.perf_counter() - began


def encode(batch: Beats) -> bytes:
    beats = [{"session_id": sid, "at": from_ms(at).isoformat()} for sid, at in batch]
    return json.dumps({"heartbeats": beats}).encode()


async def run_http(client: httpx.AsyncClient, bodies: list[bytes]) -> tuple[float, int]:
    """Seconds for one pass over HTTP with ``CONCURRENCY`` requests in flight, and the number
    of beats the server answered ``ok``."""
    queue = list(reversed(bodies))
    ok = 0

    async def worker() -> None:
        nonlocal ok
        while queue:
            response = await client.post("/v1/heartbeats", content=queue.pop())
            response.raise_for_status()
            ok += int(response.json()["ok"])

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - began, ok


async def alternate(
    base_url: str, key: str, engine: sa.Engine, tenant_id: int, plan: list[list[Beats]]
) -> tuple[list[float], list[tuple[float, int]]]:
    """Baseline and HTTP passes in turn (the server idles during a baseline pass), so that a
    change in the machine's load hits both alike. The first pair warms up and is dropped."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    base: list[float] = []
    http: list[tuple[float, int]] = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60.0) as client:
        for i in range(0, len(plan), 2):
            params = baseline_params(tenant_id, plan[i])
            bodies = [encode(batch) for batch in plan[i + 1]]
            base.append(run_baseline(engine, params))
            http.append(await run_http(client, bodies))
    return base[1:], http[1:]


def measure(backend: str, sessions: int, passes: int) -> dict[str, Any]:
    with database(backend) as url:
        tenant = prepare(url)
        now = now_ms()
        spec = Population(
            tenant.id, sessions, now, prefix=PREFIX, timeout_ms=6 * 3_600_000, recent_s=7_300
        )
        populate(url, spec)
        # Pass k beats at first_at + k seconds, so every pass moves every session forward.
        plan = make_passes(sessions, now - 7_200_000, 2 * (passes + 1))
        # The same engine configuration as the server's writer: PRAGMAs, BEGIN IMMEDIATE.
        engine = create_engine(url, role="writer")
        try:
            with running_server(url) as server:
                base_seconds, http_runs = asyncio.run(
                    alternate(server.base_url, tenant.key, engine, tenant.id, plan)
                )
        finally:
            engine.dispose()
    return {
        "sessions": sessions,
        "passes": passes,
        "baseline_rate": statistics.median(sessions / s for s in base_seconds),
        "http_rate": statistics.median(sessions / s for s, _ in http_runs),
        "baseline_seconds": base_seconds,
        "http_seconds": [s for s, _ in http_runs],
        "http_ok": [ok for _, ok in http_runs],
    }


def run(config: RunConfig) -> Outcome:
    sessions = config.size(100_000, 20_000)
    passes = config.size(3, 2)
    outcome = Outcome(
        NAME,
        settings={
            "batch": BATCH,
            "client_concurrency": CONCURRENCY,
            "sessions": sessions,
            "timed_passes": passes,
            "sqlite_synchronous": "FULL",
        },
    )
    for backend in config.backends:
        if backend == "postgresql" and not postgres_available():
            outcome.skipped.append("PostgreSQL not reachable")
            continue
        raw = measure(backend, sessions, passes)
        measured, baseline = float(raw["http_rate"]), float(raw["baseline_rate"])
        ratio_ok = measured / baseline >= GOAL_RATIO
        goal = f"ratio ≥ {GOAL_RATIO}"
        met = ratio_ok
        if backend == "sqlite":
            goal += f" and ≥ {GOAL_SQLITE_RATE:,}/s"
            met = ratio_ok and measured >= GOAL_SQLITE_RATE
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        outcome.cases.append(
            Case(
                name=f"batched heartbeats, 1,000/request ({label})",
                measured=measured,
                baseline=baseline,
                unit="beats/s",
                goal=goal,
                met=met,
                raw=raw,
            )
        )
    return outcome
