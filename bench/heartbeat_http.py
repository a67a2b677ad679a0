"""1. Single heartbeats over HTTP, 64 connections, against a bare endpoint of the same app.

The same two loads then run under granian instead of uvicorn (reported: the server
``sessionkeeper serve`` runs is uvicorn, whose protocol carries the slow-client deadlines).

The bare endpoint (``bench.launcher``) parses the same JSON body with the same pydantic model
and answers 204; the difference is authentication, the database write through the group-commit
writer and the response. Both run in the same server process, one after the other, with the
same load generator. Heartbeats go round-robin over pre-created sessions and carry the current
time, so each one moves ``last_seen_at`` forward (a real write).
"""

from __future__ import annotations

import importlib.util
import statistics

import sqlalchemy as sa

from bench import loadgen
from bench.config import RunConfig
from bench.databases import bare_engine, database
from bench.populate import Population, Tenant, now_ms, populate, prepare
from bench.report import Case, Outcome
from bench.server import running_server
from sessionkeeper.storage.tables import sessions as t

NAME = "heartbeat"
GOAL_RATIO = 0.7
REPORTED = "— (reported: server comparison)"
PREFIX = "hb-"


def _moved_since(url: str, since: int) -> int:
    engine = bare_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(t).where(t.c.last_seen_at >= since)
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def _measure(
    url: str, tenant: Tenant, server_kind: str, config: RunConfig, generator: str
) -> dict[str, list[loadgen.LoadResult]]:
    """Warm-up, then ``rounds`` alternating runs of the bare endpoint and the heartbeats."""
    sessions = config.size(20_000, 5_000)
    duration = config.seconds(10, 3)
    warmup = config.seconds(2, 1)
    rounds = 1 if config.quick else 2
    runs: dict[str, list[loadgen.LoadResult]] = {"bare": [], "heartbeat": []}
    with running_server(url, server=server_kind) as server:

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
    return runs


def _case(name: str, goal: str, runs: dict[str, list[loadgen.LoadResult]], moved: int) -> Case:
    def median(mode: str, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in runs[mode])

    real, bare = median("heartbeat", "rps"), median("bare", "rps")
    errors = sum(r.non_2xx + r.socket_errors for rs in runs.values() for r in rs)
    generator = runs["heartbeat"][0].generator
    return Case(
        name=name,
        measured=real,
        baseline=bare,
        unit="req/s",
        goal=goal,
        met=real / bare >= GOAL_RATIO if bare and goal != REPORTED else None,
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


def run(config: RunConfig) -> Outcome:
    generator = loadgen.pick_generator(config.loadgen)
    sessions = config.size(20_000, 5_000)
    compare = importlib.util.find_spec("granian") is not None
    outcome = Outcome(
        NAME,
        settings={
            "backend": "sqlite",
            "sqlite_synchronous": "FULL",
            "generator": generator,
            "connections": config.connections,
            "duration_s": config.seconds(10, 3),
            "rounds": 1 if config.quick else 2,
            "sessions": sessions,
            "uvicorn": "1 worker, httptools, uvloop, access log off",
            "granian": "1 worker, uvloop (compared, not served)" if compare else "not installed",
        },
    )
    with database("sqlite") as url:
        tenant = prepare(url)
        began = now_ms()
        populate(url, Population(tenant.id, sessions, began, prefix=PREFIX, timeout_ms=3_600_000))
        runs = _measure(url, tenant, "uvicorn", config, generator)
        moved = _moved_since(url, began)
        outcome.cases.append(
            _case(
                "single heartbeats, HTTP, 64 conns (SQLite)", f"ratio ≥ {GOAL_RATIO}", runs, moved
            )
        )
        if compare:
            # The same load under granian: what a change of server would buy.
            runs = _measure(url, tenant, "granian", config, generator)
            outcome.cases.append(
                _case(
                    "single heartbeats, HTTP, 64 conns, under granian (SQLite)",
                    REPORTED,
                    runs,
                    _moved_since(url, began),
                )
            )
        else:
            outcome.skipped.append("granian comparison: granian is not installed")
    return outcome
