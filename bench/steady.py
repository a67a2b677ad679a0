"""Single heartbeats at a steady rate over HTTP (an open loop): latency percentiles.

A fleet of clients beating on schedule does not wait for the server: ``bench/steady_load.py``
sends beat ``i`` at ``start + i / rate`` over up to 256 connections and counts each beat's
latency from when it was due. Two cases on PostgreSQL — 10,000 active sessions each beating
every 10 s (1,000/s) and 20,000 (2,000/s) — with the goal p99 < 50 ms; the same 1,000/s on
SQLite is reported beside them. The 2,000/s case runs twice: in one server process, and in
two (``--workers 2``, as ``sessionkeeper serve --workers 2`` runs, the way to use a second
core). The baseline of each row is the p99 of the bare endpoint (``POST /bench/bare``) at the
same rate in the same server: what the HTTP stack alone costs at that rate on this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.config import RunConfig
from bench.databases import database, postgres_available
from bench.populate import Population, now_ms, populate, prepare
from bench.report import Case, Outcome
from bench.server import running_server
from bench.steady_load import SteadyLoad

NAME = "steady"
PREFIX = "st-"
GOAL_P99_MS = 50.0
INTERVAL_S = 10
# (backend, active sessions, server processes): each session beats every INTERVAL_S seconds.
CASES = (
    ("postgresql", 10_000, 1),
    ("postgresql", 20_000, 1),
    ("postgresql", 20_000, 2),
    ("sqlite", 10_000, 1),
)
HERE = Path(__file__).resolve().parent


def _generate(load: SteadyLoad, bare: bool = False) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    spec = {**asdict(load), "mode": "bare" if bare else "heartbeat"}
    command = [sys.executable, "-m", "bench.steady_load", json.dumps(spec)]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env, timeout=900)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _case(backend: str, sessions: int, workers: int, config: RunConfig) -> Case:
    rate = sessions / INTERVAL_S
    with database(backend) as url:
        tenant = prepare(url)
        # A timeout far above the interval: every beat keeps its session open.
        populate(url, Population(tenant.id, sessions, now_ms(), prefix=PREFIX, timeout_ms=600_000))
        with running_server(url, workers=workers) as server:
            load = SteadyLoad(
                base_url=server.base_url,
                key=tenant.key,
                sessions=sessions,
                prefix=PREFIX,
                rate=rate,
                warmup_s=config.seconds(5, 2),
                duration_s=config.seconds(30, 8),
            )
            bare = _generate(load, bare=True)
            beats = _generate(load)
    label = "PostgreSQL" if backend == "postgresql" else "SQLite"
    goal = f"p99 < {GOAL_P99_MS:g} ms" if backend == "postgresql" else "— (reported)"
    errors = beats["non_2xx"] + beats["socket_errors"]
    return Case(
        name=(
            f"steady single heartbeats, {sessions:,} sessions every {INTERVAL_S} s "
            f"({rate:,.0f}/s), p99 ({label}"
            + ("" if workers == 1 else f", {workers} server processes")
            + ")"
        ),
        measured=beats["p99_ms"] / 1000,
        baseline=bare["p99_ms"] / 1000,
        unit="s",
        goal=goal,
        met=(beats["p99_ms"] < GOAL_P99_MS and errors == 0) if backend == "postgresql" else None,
        note=(
            f"p50 {beats['p50_ms']:.1f} ms, p90 {beats['p90_ms']:.1f} ms, "
            f"max {beats['max_ms']:.1f} ms, {beats['achieved_rate']:,.0f}/s answered, "
            f"errors {errors}; bare p50 {bare['p50_ms']:.1f} ms"
        ),
        raw={"heartbeat": beats, "bare": bare},
    )


def run(config: RunConfig) -> Outcome:
    outcome = Outcome(
        NAME,
        settings={
            "interval_s": INTERVAL_S,
            "generator": "bench.steady_load (open loop, asyncio, up to 256 connections)",
            "uvicorn": "1 worker (2 where the case says so), httptools, uvloop, access log off",
        },
    )
    pg = "postgresql" in config.backends and postgres_available()
    for backend, sessions, workers in CASES:
        if backend == "postgresql" and not pg:
            outcome.skipped.append(f"{sessions:,} sessions: PostgreSQL is not reachable")
            continue
        outcome.cases.append(_case(backend, sessions, workers, config))
    return outcome
