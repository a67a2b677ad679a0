"""Single heartbeats over HTTP on PostgreSQL with 1, 2 and 4 server processes
(``sessionkeeper serve --workers N``): how throughput scales with processes.

The same load (64 connections of single heartbeats over 20,000 sessions, round-robin, each
moving ``last_seen_at`` forward) is put on a server of 1, 2 and 4 worker processes in turn, on
one PostgreSQL database. The figure is each count's heartbeats/s over the one-process figure of
the same run. On a 2-core machine that also runs the load generator and PostgreSQL, processes
beyond two can only share the same cores: the ratio says what a second process buys here and
that more do no harm, not what a larger host would reach.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from tests.processes import Servers

from bench import loadgen
from bench.config import RunConfig
from bench.databases import database, postgres_available
from bench.populate import Population, now_ms, populate, prepare
from bench.report import Case, Outcome

NAME = "workers"
PREFIX = "wk-"
COUNTS = (1, 2, 4)


async def _measure(url: str, key: str, sessions: int, config: RunConfig, generator: str):  # type: ignore[no-untyped-def]
    results: dict[int, loadgen.LoadResult] = {}
    tmp = Path(tempfile.mkdtemp(prefix="sk-bench-workers-"))
    for workers in COUNTS:
        servers = Servers(tmp, url, access_log="false")
        try:
            server = await servers.start("--workers", str(workers))

            def load(seconds: float, base_url: str = server.base_url) -> loadgen.Load:
                return loadgen.Load(
                    base_url=base_url,
                    mode="heartbeat",
                    key=key,
                    sessions=sessions,
                    prefix=PREFIX,
                    connections=config.connections,
                    duration_s=seconds,
                )

            loadgen.run(load(config.seconds(2, 1)), generator)
            results[workers] = loadgen.run(load(config.seconds(10, 4)), generator)
        finally:
            servers.stop_all()
    return results


def run(config: RunConfig) -> Outcome:
    generator = loadgen.pick_generator(config.loadgen)
    sessions = config.size(20_000, 5_000)
    outcome = Outcome(
        NAME,
        settings={"backend": "postgresql", "generator": generator, "sessions": sessions},
    )
    if "postgresql" not in config.backends or not postgres_available():
        outcome.skipped.append("workers: PostgreSQL is not reachable (or --sqlite-only)")
        return outcome
    with database("postgresql") as url:
        tenant = prepare(url)
        populate(
            url, Population(tenant.id, sessions, now_ms(), prefix=PREFIX, timeout_ms=3_600_000)
        )
        results = asyncio.run(_measure(url, tenant.key, sessions, config, generator))
    one = results[1].rps
    for workers in COUNTS[1:]:
        result = results[workers]
        outcome.cases.append(
            Case(
                name=f"single heartbeats, {workers} processes vs 1 (PostgreSQL)",
                measured=result.rps,
                baseline=one,
                unit="req/s",
                goal="reported (2 cores)",
                met=None,
                note=(
                    f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms; "
                    f"1 process p50 {results[1].p50_ms:.1f} ms, p99 {results[1].p99_ms:.1f} ms; "
                    f"errors {result.non_2xx + result.socket_errors}"
                ),
                raw={str(n): r.as_dict() for n, r in results.items()},
            )
        )
    return outcome
