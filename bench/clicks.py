"""7. Clicks on a tracking link: ``GET /t/{token}`` of a reusable ``redirect`` link over HTTP,
64 connections, against a bare endpoint of the same app.

Each click looks the link up by its token's digest, takes the click, starts a session
(``source`` "link"), stores the click and its tracker token in one transaction through the
writer, and answers 302 to the target with the click's cookie. The bare endpoint
(``GET /bench/bare-click/{token}`` of ``bench.launcher``) answers the same 302 (target, headers,
cookie) without any database work. Both run in the same server process, one after the other,
with ``wrk`` (``bench/clicks.lua``: no cookies kept, so every request is a new click).

After the run the database must hold exactly one session, one click row and one count on the
link per click the server answered: the 302s wrk received, plus the requests still in flight
when each wrk run stopped (the server finishes them; at most one per connection and run).
"""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench import loadgen
from bench.config import RunConfig
from bench.databases import bare_engine, database, postgres_available
from bench.launcher import BARE_CLICK_PATH, BARE_CLICK_TARGET
from bench.populate import prepare
from bench.report import Case, Outcome
from bench.server import Server, running_server
from sessionkeeper.links.tables import link_clicks, links
from sessionkeeper.storage.tables import sessions as t

NAME = "clicks"
LUA_SCRIPT = Path(__file__).resolve().parent / "clicks.lua"
KIND = "lesson"


def make_link(server: Server, key: str) -> str:
    """A reusable redirect link through the API; returns its token."""
    response = httpx.post(
        f"{server.base_url}/v1/links",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "target_url": BARE_CLICK_TARGET,
            "kind": KIND,
            "mode": "redirect",
            "subject": {"teacher_id": "t1"},
            "reusable": True,
        },
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["token"])


def run_wrk(base_url: str, path: str, connections: int, seconds: float) -> dict[str, Any]:
    wrk = loadgen.wrk_path()
    if wrk is None:
        raise RuntimeError("the clicks benchmark needs wrk (apt-get install -y wrk)")
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        base_url,
        "--",
        path,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    found = loadgen._RESULT.search(out.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(found.group(1))
    duration_s = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "redirects": raw["redirects"],
        "duration_s": duration_s,
        "rps": round(raw["requests"] / duration_s, 1) if duration_s else 0.0,
        "non_2xx": raw["non_2xx"],
        "socket_errors": raw["socket_errors"],
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
    }


def recorded(url: str) -> dict[str, int]:
    """What the clicks left in the database."""
    engine = bare_engine(url)
    try:
        with engine.connect() as conn:

            def count(query: sa.Select[Any]) -> int:
                return int(conn.execute(query).scalar_one())

            return {
                "sessions": count(
                    sa.select(sa.func.count()).select_from(t).where(t.c.source == "link")
                ),
                "click_rows": count(sa.select(sa.func.count()).select_from(link_clicks)),
                "link_clicks": count(sa.select(sa.func.coalesce(sa.func.sum(links.c.clicks), 0))),
            }
    finally:
        engine.dispose()


def measure(backend: str, config: RunConfig) -> Case:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    duration = config.seconds(10, 3)
    warmup = config.seconds(2, 1)
    rounds = 1 if config.quick else 2
    connections = config.connections
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "click": []}
    warmups: dict[str, dict[str, Any]] = {}
    with database(backend) as url:
        tenant = prepare(url)
        with running_server(url) as server:
            token = make_link(server, tenant.key)
            paths = {"bare": f"{BARE_CLICK_PATH}/{token}", "click": f"/t/{token}"}
            # Both answers must be the same 302 before either is timed.
            with httpx.Client(base_url=server.base_url) as client:
                for mode, path in paths.items():
                    answer = client.get(path)
                    assert answer.status_code == 302, (mode, answer.status_code)
                    assert answer.headers["location"] == BARE_CLICK_TARGET, (mode, answer.headers)
            for mode, path in paths.items():
                warmups[mode] = run_wrk(server.base_url, path, connections, warmup)
            for _ in range(rounds):
                for mode, path in paths.items():
                    runs[mode].append(run_wrk(server.base_url, path, connections, duration))
        found = recorded(url)

    click_runs = [warmups["click"], *runs["click"]]
    redirects = 1 + sum(r["redirects"] for r in click_runs)  # and the check's one click
    in_flight = found["sessions"] - redirects
    consistent = found["sessions"] == found["click_rows"] == found["link_clicks"]
    # wrk stops with up to one request per connection in flight; the server still answers it.
    accounted = 0 <= in_flight <= connections * len(click_runs)

    def median(mode: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[mode]))

    real, bare = median("click", "rps"), median("bare", "rps")
    errors = sum(r["non_2xx"] + r["socket_errors"] for rs in runs.values() for r in rs)
    return Case(
        name=f"link clicks GET /t/{{token}}, redirect, HTTP, {connections} conns ({label})",
        measured=real,
        baseline=bare,
        unit="req/s",
        goal="— (reported)",
        met=None,
        note=(
            f"p50 {median('click', 'p50_ms'):.1f} ms, p99 {median('click', 'p99_ms'):.1f} ms; "
            f"bare p50 {median('bare', 'p50_ms'):.1f} ms, p99 {median('bare', 'p99_ms'):.1f} ms; "
            f"{found['sessions']:,} sessions for {redirects:,} 302s"
            + (f" + {in_flight} in flight at wrk's stop" if in_flight else "")
            + ("" if consistent and accounted else "; **counts disagree**")
        ),
        raw={
            "click": runs["click"],
            "bare": runs["bare"],
            "warmup": warmups,
            "errors": errors,
            "redirects_received": redirects,
            "sessions_created": found["sessions"],
            "click_rows": found["click_rows"],
            "link_clicks_counter": found["link_clicks"],
            "in_flight_at_stop": in_flight,
            "sessions_equal_clicks": consistent,
            "sessions_accounted_for": accounted,
        },
    )


def run(config: RunConfig) -> Outcome:
    outcome = Outcome(
        NAME,
        settings={
            "generator": "wrk",
            "connections": config.connections,
            "duration_s": config.seconds(10, 3),
            "rounds": 1 if config.quick else 2,
            "link": "reusable, redirect mode",
            "sqlite_synchronous": "FULL",
            "uvicorn": "1 worker, httptools, uvloop, access log off",
        },
    )
    for backend in config.backends:
        if backend == "postgresql" and not postgres_available():
            outcome.skipped.append("PostgreSQL not reachable")
            continue
        outcome.cases.append(measure(backend, config))
    return outcome
