"""1. Single heartbeats over HTTP, 64 connections, against a bare endpoint of the same app.

The bare endpoint (``bench.launcher``) parses the same JSON body with the same pydantic model
and answers 204; the difference is authentication, the database write through the group-commit
writer and the response. Both run in the same server process, one after the other, with the
same load generator. Heartbeats go round-robin over pre-created sessions and carry the current
time, so each one moves ``last_seen_at`` forward (a real write).
"""

from __future__ import annotations

import statistics

import sqlalchemy as sa

from bench import loadgen
from bench.config import RunConfig
from bench.databases import bare_engine, database
from bench.populate import Population, now_ms, populate, prepare
from bench.report import Case, Outcome
from bench.server import running_server
from sessionkeeper.storage.tables import sessions as t

NAME = "heartbeat"
GOAL_RATIO = 0.7
PREFIX = "hb-"


def _moved_since(url: str, since: int) -> int:
    engine = bare_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(t).where(t.c.last_seen_at >= since)
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def run(config: RunConfig) -> Outcome:
    generator = loadgen.pick_generator(config.loadgen)
    sessions = config.size(20_000, 5_000)
    duration = config.seconds(10, 3)
    warmup = config.seconds(2, 1)
    rounds = 1 if config.quick else 2
    outcome = Outcome(
        NAME,
        settings={
            "backend": "sqlite",
            "sqlite_synchronous": "FULL",
            "generator": generator,
            "connections": config.connections,
            "duration_s": duration,
            "rounds": rounds,
            "sessions": sessions,
            "uvicorn": "1 worker, httptools, uvloop, access log off",
        },
    )
    runs: dict[str, list[loadgen.LoadResult]] = {"bare": [], "heartbeat": []}
    with database("sqlite") as url:
        tenant = prepare(url)
        began = now_ms()
        populate(url, Population(tenant.id, sessions, began, prefix=PREFIX, timeout_ms=3_600_000))
        with running_server(url) as server:

            def load(mode: str, seconds: float) -> loadgen.Load:
                return loadgen.Load(
                    base_url=server.base_url,
                    mode=mode,
                    key=tenant.key,
                    sessions=sessions,
                    prefix=PREFIX,
                    connections=config.connections,
                    duration_s=seconds,
                )

            for mode in runs:
                loadgen.run(load(mode, warmup), generator)
            for _ in range(rounds):
                for mode, results in runs.items():
                    results.append(loadgen.run(load(mode, duration), generator))
        moved = _moved_since(url, began)

    def median(mode: str, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in runs[mode])

    real, bare = median("heartbeat", "rps"), median("bare", "rps")
    errors = sum(r.non_2xx + r.socket_errors for rs in runs.values() for r in rs)
    outcome.cases.append(
        Case(
            name="single heartbeats, HTTP, 64 conns (SQLite)",
            measured=real,
            baseline=bare,
            unit="req/s",
            goal=f"ratio ≥ {GOAL_RATIO}",
            met=real / bare >= GOAL_RATIO if bare else None,
            note=(
                f"p50 {median('heartbeat', 'p50_ms'):.1f} ms, "
                f"p99 {median('heartbeat', 'p99_ms'):.1f} ms; "
                f"bare p50 {median('bare', 'p50_ms'):.1f} ms, "
                f"p99 {median('bare', 'p99_ms'):.1f} ms; {generator}"
            ),
            raw={
                "heartbeat": [r.as_dict() for r in runs["heartbeat"]],
                "bare": [r.as_dict() for r in runs["bare"]],
                "errors": errors,
                "sessions_moved": moved,
            },
        )
    )
    return outcome
