"""8. The dashboard's pages with 1,000,000 sessions: server time of each, logged in with an
admin key, against the same pages on 10,000 sessions in the same run.

The sessions are bulk-inserted (``bench.populate``) with a subject each and start times spread
evenly over the last 30 days, then one ``UPDATE`` gives them a history: a third are of kind
``lesson``, the others ``game``; those that started more than two hours ago lasted 1 to 120
minutes and ended (three in four by the client, one in four by timeout, estimated), the
newer ones are active and beating. The daily rollups are then rebuilt once with the
service's own CLI (``sessionkeeper rollup --rebuild``), so the charts read real rollups.

Each page is fetched once to warm up, then 20 times one after the other through one httpx
client holding the login's cookies; the figure is the server's time from the request's
arrival to the start of its answer (the ``Server-Timing`` header ``bench.launcher`` adds),
median and p95 (nearest rank). ``/admin/charts.json`` is cached by the product for 30 s per
tenant; the benchmark turns that cache off (``bench_charts_ttl_s=0``) so that each read
computes the charts, which is what the first read after every 30 s pays; as each such read
takes seconds with a million sessions, it is fetched 3 times instead of 20 (p95 is the
slowest of the 3).
"""

from __future__ import annotations

import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
import sqlalchemy as sa

from bench.config import RunConfig
from bench.databases import bare_engine, database, postgres_available
from bench.populate import Population, now_ms, populate, prepare, session_id
from bench.report import Case, Outcome
from bench.server import ROOT, Server, running_server
from sessionkeeper.domain.principal import Scope
from sessionkeeper.storage.tables import sessions as t

NAME = "dashboard"
GOAL_S = 0.3
GETS = 20
# Each uncached read of the charts takes seconds with a million sessions: fewer of them.
CHARTS_PATH = "/admin/charts.json"
CHARTS_GETS = 3
BASELINE_SESSIONS = 10_000
DAY_MS = 86_400_000
SPAN_MS = 30 * DAY_MS
# Sessions that started within this long before now are still active.
ACTIVE_WINDOW_MS = 2 * 3_600_000
PREFIX = "d"
PARTS = 2
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_TIMING = re.compile(r"app;dur=([0-9.]+)")


def shown_id(count: int) -> str:
    """The session whose page is timed: one in the middle of the 30 days."""
    return session_id(f"{PREFIX}1-", 0)


def pages(count: int) -> list[str]:
    return [
        "/admin",
        "/admin/sessions",
        "/admin/sessions?kind=game&status=ended",
        "/admin/sessions?order=ended_latest",
        "/admin/sessions?order=longest",
        f"/admin/sessions/{shown_id(count)}",
        "/admin/rooms",
        "/admin/audit",
        "/admin/quality",
        CHARTS_PATH,
        "/admin/fragments/counters",
    ]


def give_history(url: str, now: int) -> None:
    """Kinds, ends and liveness for the bulk-inserted rows (see the module's docstring)."""
    minutes = (t.c.seq % 120 + 1) * 60_000
    by_timeout = t.c.seq % 4 == 0
    old = t.c.started_at < now - ACTIVE_WINDOW_MS
    last_seen = sa.case((old, t.c.started_at + minutes), else_=now - 10_000)
    engine = bare_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                t.update().values(
                    kind=sa.case((t.c.seq % 3 == 0, "lesson"), else_="game"),
                    status=sa.case((old & by_timeout, "timed_out"), (old, "ended"), else_="active"),
                    end_reason=sa.case(
                        (old & by_timeout, "timeout"), (old, "client"), else_=sa.null()
                    ),
                    estimated=old & by_timeout,
                    last_seen_at=last_seen,
                    expires_at=last_seen + t.c.timeout_ms,
                    ended_at=sa.case(
                        (old & by_timeout, last_seen + t.c.grace_ms),
                        (old, last_seen),
                        else_=sa.null(),
                    ),
                    heartbeat_interval_ms=60_000,
                )
            )
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE sessions"))
        else:
            with engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
    finally:
        engine.dispose()


def rebuild_rollups(url: str) -> float:
    """``sessionkeeper rollup --rebuild``, as an operator would run it; returns seconds."""
    env = dict(os.environ)
    env.update(
        {
            "SESSIONKEEPER_DATABASE_URL": url,
            "SESSIONKEEPER_LOG_LEVEL": "warning",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])),
        }
    )
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sessionkeeper", "rollup", "--rebuild"],
        cwd=tempfile.gettempdir(),  # no stray .env file is read
        env=env,
        check=False,
        capture_output=True,
        timeout=1800,
    )
    if done.returncode != 0:  # say why, not just that it failed
        raise RuntimeError(f"rollup --rebuild failed: {done.stderr.decode()[-2000:]}")
    return time.perf_counter() - began


def rollup_rows(url: str) -> int:
    engine = bare_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM rollups_daily")).scalar_one())
    except sa.exc.SQLAlchemyError:
        return -1
    finally:
        engine.dispose()


def log_in(client: httpx.Client, key: str) -> None:
    form = client.get("/admin/login")
    form.raise_for_status()
    found = _CSRF.search(form.text)
    assert found is not None, "the login page carries no csrf field"
    answer = client.post("/admin/login", data={"csrf": found.group(1), "key": key})
    assert answer.status_code == 303, (answer.status_code, answer.text[:500])


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def time_pages(server: Server, key: str, paths: list[str]) -> dict[str, dict[str, Any]]:
    """Per path: the server times and client round trips of ``GETS`` sequential GETs."""
    timed: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=server.base_url, timeout=900) as client:
        log_in(client, key)
        for path in paths:
            server_s: list[float] = []
            client_s: list[float] = []
            first_s = 0.0
            gets = CHARTS_GETS if path == CHARTS_PATH else GETS
            for n in range(gets + 1):
                began = time.perf_counter()
                answer = client.get(path)
                elapsed = time.perf_counter() - began
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                header = _TIMING.search(answer.headers.get("server-timing", ""))
                assert header is not None, f"{path}: no Server-Timing (bench.launcher)"
                if n == 0:  # the warm-up: templates compiled, caches of the process filled
                    first_s = float(header.group(1)) / 1000
                    continue
                server_s.append(float(header.group(1)) / 1000)
                client_s.append(elapsed)
            timed[path] = {
                "median_s": statistics.median(server_s),
                "p95_s": p95(server_s),
                "max_s": max(server_s),
                "first_s": first_s,
                "client_median_s": statistics.median(client_s),
                "bytes": len(answer.content),
                "server_s": [round(s, 5) for s in server_s],
            }
    return timed


def measure_size(backend: str, count: int) -> dict[str, Any]:
    with database(backend) as url:
        tenant = prepare(url, Scope.ADMIN)
        now = now_ms()
        first = now - SPAN_MS
        spacing = SPAN_MS // count
        populate_s = 0.0
        # In parts of 15 days: Population computes ``x * spacing`` in the database's integer,
        # 32 bits on PostgreSQL, which 30 days of milliseconds would overflow.
        for part in range(PARTS):
            spec = Population(
                tenant.id,
                count // PARTS,
                # Population starts row x at ``now - 1 h + x * spacing``.
                first + part * (SPAN_MS // PARTS) + 3_600_000,
                prefix=f"{PREFIX}{part}-",
                with_subject=True,
                start_spacing_ms=spacing,
            )
            populate_s += populate(url, spec)
        began = time.perf_counter()
        give_history(url, now)
        history_s = time.perf_counter() - began
        rollup_s = rebuild_rollups(url)
        engine = bare_engine(url)
        try:
            with engine.connect() as conn:
                statuses: dict[Any, Any] = dict(
                    conn.execute(sa.select(t.c.status, sa.func.count()).group_by(t.c.status)).all()
                )
        finally:
            engine.dispose()
        with running_server(url, bench_server_timing="1", bench_charts_ttl_s="0") as server:
            timed = time_pages(server, tenant.key, pages(count))
        return {
            "sessions": count,
            "by_status": {str(k): int(v) for k, v in statuses.items()},
            "rollup_rows": rollup_rows(url),
            "populate_s": round(populate_s, 2),
            "history_s": round(history_s, 2),
            "rollup_rebuild_s": round(rollup_s, 2),
            "pages": timed,
        }


def measure(backend: str, count: int) -> list[Case]:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    small = measure_size(backend, BASELINE_SESSIONS)
    large = measure_size(backend, count)
    cases = []
    for big_path, small_path in zip(pages(count), pages(BASELINE_SESSIONS), strict=True):
        big, base = large["pages"][big_path], small["pages"][small_path]
        shown = big_path.replace(shown_id(count), "{id}")
        cases.append(
            Case(
                name=f"dashboard {shown}, {count:,} vs {BASELINE_SESSIONS:,} sessions ({label})",
                measured=big["median_s"],
                baseline=base["median_s"],
                unit="s",
                goal=f"p95 < {GOAL_S * 1000:.0f} ms",
                met=big["p95_s"] < GOAL_S,
                note=(
                    f"p95 {big['p95_s'] * 1000:,.1f} ms; "
                    f"baseline p95 {base['p95_s'] * 1000:,.1f} ms"
                    + (
                        f"; uncached, {CHARTS_GETS} GETs (the product caches it 30 s)"
                        if big_path == CHARTS_PATH
                        else ""
                    )
                ),
                raw={"large": big, "baseline": base},
            )
        )
    cases[0].raw["databases"] = {
        "large": {k: v for k, v in large.items() if k != "pages"},
        "baseline": {k: v for k, v in small.items() if k != "pages"},
    }
    return cases


def run(config: RunConfig) -> Outcome:
    count = config.size(1_000_000, 100_000)
    outcome = Outcome(
        NAME,
        settings={
            "sessions": count,
            "baseline_sessions": BASELINE_SESSIONS,
            "gets_per_page": GETS,
            "gets_charts_uncached": CHARTS_GETS,
            "warmup_gets": 1,
            "span_days": SPAN_MS // DAY_MS,
            "timing": "Server-Timing: request arrival to response start, in the server",
            "charts_cache": "off (product default: 30 s per tenant)",
        },
    )
    for backend in config.backends:
        if backend == "postgresql" and not postgres_available():
            outcome.skipped.append("PostgreSQL not reachable")
            continue
        outcome.cases.extend(measure(backend, count))
    return outcome
