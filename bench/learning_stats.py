"""``GET /v1/users/{user_id}/stats?period=month`` and ``GET /v1/users/{user_id}/recap`` for a
heavy user, against the bare SQL reading the same answer's core in the same run.

The data: ``SESSIONS`` sessions of 50,000 users (1,000,000 in a full run, 100,000 with
``--quick``), bulk-inserted as the other benchmarks do, plus ``HEAVY`` (2,000) closed sessions
of one user spread over the last 60 days — the month asked for and the one before — each with
an outcome (three metrics, two counters, tags in three fields), inserted in bulk into the
outcomes table. A quarter of them timed out (estimated ends, so the totals carry real bounds).

Both endpoints are timed over HTTP on the real server with a read key. The baseline runs, in
the benchmark's process on the same database, the two plain SELECTs the answer rests on: the
user's sessions started in those 60 days, and their outcomes, fetched in full (PostgreSQL's
driver decodes the JSON columns, SQLite's hands them over as text). Each side is warmed up by
one untimed call first; each reports the 95th percentile of ``repeat`` calls. The endpoints do
more than the baseline — every session as the lifecycle rules read it, the period's totals with
their bounds, streaks over the whole history, the JSON answer over HTTP — and the ratio says
what all of that costs over the bare read.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import httpx
import sqlalchemy as sa

from bench.config import RunConfig
from bench.databases import bare_engine, database, postgres_available
from bench.populate import ATTRIBUTES, DIGEST, LABEL, Population, insert_sessions, now_ms, prepare
from bench.report import Case, Outcome
from bench.server import running_server
from sessionkeeper.domain.principal import Scope
from sessionkeeper.learning.tables import session_outcomes
from sessionkeeper.storage.tables import sessions as t

NAME = "learning"
HEAVY = 2_000
USER = "heavy-learner"
DAY_MS = 86_400_000
SPAN_MS = 60 * DAY_MS
GOAL_RATIO = 10.0
KINDS = ("lesson", "call", "quiz")
TOPICS = ("travel", "food", "work", "family", "health", "sport", "music", "school")
AREAS = ("past tense", "articles", "prepositions", "pronunciation", "word order")
WORDS = tuple(f"word-{n}" for n in range(200))

BARE_SESSIONS = sa.text(
    "SELECT id, kind, label, status, end_reason, estimated, started_at, last_seen_at, "
    "expires_at, ended_at, timeout_ms, grace_ms, heartbeat_interval_ms "
    "FROM sessions WHERE tenant_id = :tenant AND user_id = :user AND started_at >= :since "
    "ORDER BY started_at, id"
)
BARE_OUTCOMES = sa.text(
    "SELECT session_id, metrics, counters, tags FROM session_outcomes "
    "WHERE tenant_id = :tenant AND user_id = :user"
)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:,.1f}"


def heavy_rows(tenant_id: int, now: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The heavy user's sessions (closed, over the last 60 days) and their outcomes."""
    sessions: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    step = SPAN_MS // HEAVY
    first = now - SPAN_MS + step // 2
    attributes = json.loads(ATTRIBUTES)
    for n in range(HEAVY):
        started = first + n * step
        minutes = 10 + n % 50
        timed_out = n % 4 == 0
        last_seen = started + minutes * 60_000
        ended = last_seen + 30_000 if timed_out else last_seen
        session_id = f"heavy-{n:020d}"
        sessions.append(
            {
                "tenant_id": tenant_id,
                "id": session_id,
                "user_id": USER,
                "kind": KINDS[n % len(KINDS)],
                "label": LABEL,
                "source": None,
                "attributes": attributes,
                "status": "timed_out" if timed_out else "ended",
                "end_reason": "timeout" if timed_out else "client",
                "estimated": timed_out,
                "started_at": started,
                "last_seen_at": last_seen,
                "expires_at": last_seen + 300_000,
                "sweep_at": last_seen + 300_000,
                "ended_at": ended,
                "timeout_ms": 300_000,
                "grace_ms": 30_000,
                "heartbeat_interval_ms": 60_000,
                "start_digest": DIGEST,
            }
        )
        outcomes.append(
            {
                "tenant_id": tenant_id,
                "session_id": session_id,
                "user_id": USER,
                "metrics": {
                    "pronunciation": 40 + n % 60,
                    "fluency": 50 + n % 45,
                    "accuracy": 0.5 + (n % 50) / 100,
                },
                "counters": {"words_spoken": 50 + n % 300, "questions": n % 12},
                "tags": {
                    "topics": [TOPICS[n % len(TOPICS)], TOPICS[(n * 3) % len(TOPICS)]],
                    "areas_to_improve": [AREAS[n % len(AREAS)]],
                    "vocabulary": [WORDS[n % len(WORDS)], WORDS[(n * 7) % len(WORDS)]],
                },
                "metadata": {"teacher": f"t{n % 20}"},
                "updated_at": ended,
            }
        )
    return sessions, outcomes


def populate(url: str, tenant_id: int, background: int, now: int) -> float:
    began = time.perf_counter()
    engine = bare_engine(url)
    try:
        with engine.begin() as conn:
            # Everyone else: sessions of 50,000 other users, started an hour ago.
            insert_sessions(conn, Population(tenant_id, background, now, kind="lesson"))
            sessions, outcomes = heavy_rows(tenant_id, now)
            conn.execute(t.insert(), sessions)
            conn.execute(session_outcomes.insert(), outcomes)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE sessions"))
                conn.execute(sa.text("VACUUM ANALYZE session_outcomes"))
    finally:
        engine.dispose()
    return time.perf_counter() - began


def bare(url: str, tenant_id: int, now: int, repeat: int) -> tuple[list[float], int]:
    """The two plain SELECTs, fetched in full; the seconds of each run and the rows read."""
    engine = bare_engine(url)
    seconds: list[float] = []
    rows = 0
    params = {"tenant": tenant_id, "user": USER, "since": now - SPAN_MS - DAY_MS}
    try:
        # Warmed up like the endpoints: a first read from a cold cache measures the disk.
        for n in range(repeat + 1):
            with engine.connect() as conn:
                began = time.perf_counter()
                found = conn.execute(BARE_SESSIONS, params).fetchall()
                outcomes = conn.execute(BARE_OUTCOMES, params).fetchall()
                if n:
                    seconds.append(time.perf_counter() - began)
                rows = len(found) + len(outcomes)
    finally:
        engine.dispose()
    return seconds, rows


def timed(client: httpx.Client, path: str, params: dict[str, str], repeat: int) -> list[float]:
    client.get(path, params=params).raise_for_status()  # warm up
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(path, params=params)
        seconds.append(time.perf_counter() - began)
        response.raise_for_status()
    return seconds


def measure(backend: str, total: int, repeat: int) -> dict[str, Any]:
    with database(backend) as url:
        tenant = prepare(url, Scope.READ)
        now = now_ms()
        populate_s = populate(url, tenant.id, total - HEAVY, now)
        bare_seconds, rows = bare(url, tenant.id, now, repeat)
        with running_server(url) as server:
            headers = {"Authorization": f"Bearer {tenant.key}"}
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as client:
                stats_path = f"/v1/users/{USER}/stats"
                stats = timed(client, stats_path, {"period": "month"}, repeat)
                recap = timed(client, f"/v1/users/{USER}/recap", {}, repeat)
                answer = client.get(stats_path, params={"period": "month"}).json()
    current = answer["current"]
    return {
        "sessions": total,
        "heavy_sessions": HEAVY,
        "rows_read_bare": rows,
        "month_sessions": current["sessions"],
        "month_bounds_s": current["bounds_s"],
        "populate_s": round(populate_s, 1),
        "stats_p95_s": p95(stats),
        "recap_p95_s": p95(recap),
        "bare_p95_s": p95(bare_seconds),
        "stats_seconds": stats,
        "recap_seconds": recap,
        "bare_seconds": bare_seconds,
    }


def run(config: RunConfig) -> Outcome:
    total = config.size(1_000_000, 100_000)
    repeat = config.size(50, 20)
    outcome = Outcome(
        NAME,
        settings={"sessions": total, "heavy_sessions": HEAVY, "days": 60, "repeat": repeat},
    )
    for backend in config.backends:
        if backend == "postgresql" and not postgres_available():
            outcome.skipped.append("PostgreSQL not reachable")
            continue
        raw = measure(backend, total, repeat)
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        baseline = raw["bare_p95_s"]
        for what, key in (("stats?period=month", "stats_p95_s"), ("recap", "recap_p95_s")):
            measured = raw[key]
            outcome.cases.append(
                Case(
                    name=f"GET /v1/users/{{id}}/{what} p95, {HEAVY:,} of {total:,} sessions "
                    f"({label})",
                    measured=measured,
                    baseline=baseline,
                    unit="s",
                    goal=f"ratio ≤ {GOAL_RATIO:g}",
                    met=measured / baseline <= GOAL_RATIO,
                    note=f"{raw['month_sessions']} in the month; medians "
                    f"{median_ms(raw[key.replace('p95_s', 'seconds')])} vs "
                    f"{median_ms(raw['bare_seconds'])} ms",
                    raw=raw,
                )
            )
    return outcome
