"""Several server processes on one PostgreSQL stay correct, and jobs that must run once at a
time run in one process at a time."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionkeeper.domain import lifecycle as lc
from sessionkeeper.storage.engine import create_engine
from sessionkeeper.storage.job_locks import JobLocks
from tests.processes import Servers

TIMEOUT_MS, GRACE_MS = 30_000, 5_000


def test_a_job_lock_is_held_by_one_process_at_a_time(db_url: str) -> None:
    first, second = (
        JobLocks(create_engine(db_url, role="reader")),
        JobLocks(create_engine(db_url, role="reader")),
    )
    try:
        with first.hold("cleanup") as mine:
            assert mine
            with second.hold("cleanup") as theirs:
                assert not theirs
            with second.hold("rollup") as other_job:
                assert other_job  # one lock per job name
        with second.hold("cleanup") as theirs:
            assert theirs  # released when the holder's run ended
    finally:
        first.engine.dispose()
        second.engine.dispose()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _ms(value: str | None) -> int | None:
    return None if value is None else round(datetime.fromisoformat(value).timestamp() * 1000)


def _plan(start: int) -> dict[str, dict[str, Any]]:
    """Three kinds of session, all started 100 s ago (each closed at once by its start, as
    overdue): beats every 10 s until now (they chain), beats with a real gap, and an end."""
    plan: dict[str, dict[str, Any]] = {}
    for i in range(12):
        plan[f"chain-{i}"] = {"beats": [start + s * 1_000 for s in range(10, 100, 10)]}
        plan[f"gap-{i}"] = {"beats": [start + s * 1_000 for s in (10, 20, 70, 80)]}
        plan[f"ended-{i}"] = {
            "beats": [start + s * 1_000 for s in range(10, 60, 10)],
            "end": start + 55_000,
        }
    return plan


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_four_processes_hammering_the_same_sessions_agree_with_the_rules(
    pg_url: str, tmp_path: Path
) -> None:
    servers = Servers(tmp_path, pg_url, sweep_interval_s="1")
    try:
        clients = await servers.admin_clients(4)
        policy = {"heartbeat_interval_s": 10, "timeout_s": 30, "grace_s": 5}
        assert (await clients[0].put("/v1/policies/*", json=policy)).status_code == 200
        start = time.time_ns() // 1_000_000 - 100_000
        plan = _plan(start)
        rng = random.Random(7)

        # Every process starts every session (the same ids): one 201, the rest 200.
        starts = [
            client.post(
                "/v1/sessions",
                json={"id": sid, "user_id": sid, "kind": "app", "started_at": _iso(start)},
            )
            for sid in plan
            for client in clients
        ]
        rng.shuffle(starts)
        answers = await asyncio.gather(*starts)
        assert sorted({a.status_code for a in answers}) == [200, 201], [
            a.text for a in answers if a.status_code >= 300
        ][:3]
        assert sum(a.status_code == 201 for a in answers) == len(plan)

        # Each session's client sends its beats in time order (singly, or a few buffered ones
        # in one batch), each through a random process, and repeats some through another (a
        # retry whose answer was lost); the ended ones then end through all four processes.
        # All sessions at once, while every process sweeps.
        async def client_of(sid: str, item: dict[str, Any]) -> list[httpx.Response]:
            answers: list[httpx.Response] = []
            pending = list(item["beats"])
            while pending:
                take = rng.choice((1, 1, 3))
                sent, pending = pending[:take], pending[take:]
                body = {"heartbeats": [{"session_id": sid, "at": _iso(at)} for at in sent]}
                for client in rng.sample(clients, rng.choice((1, 2))):
                    if take == 1:
                        path, json = f"/v1/sessions/{sid}/heartbeat", {"at": _iso(sent[0])}
                        answers.append(await client.post(path, json=json))
                    else:
                        answers.append(await client.post("/v1/heartbeats", json=body))
            if "end" in item:
                ends = [
                    c.post(f"/v1/sessions/{sid}/end", json={"at": _iso(item["end"])})
                    for c in clients
                ]
                answers += await asyncio.gather(*ends)
            return answers

        async def sweeper() -> list[httpx.Response]:
            return [await rng.choice(clients).post("/v1/maintenance/sweep") for _ in range(20)]

        results = [
            answer
            for answers in await asyncio.gather(
                sweeper(), *(client_of(sid, item) for sid, item in plan.items())
            )
            for answer in answers
        ]
        failed = [r.text for r in results if r.status_code not in (200, 409)]
        assert failed == []

        now = time.time_ns() // 1_000_000
        listing = (await clients[1].get("/v1/sessions", params={"limit": 500})).json()["items"]
        stored = {item["id"]: item for item in listing}
        assert set(stored) == set(plan)
        for sid, item in plan.items():
            model = lc.heartbeats(
                lc.start(start, timeout_ms=TIMEOUT_MS, grace_ms=GRACE_MS), item["beats"], now
            )[0]
            if "end" in item:
                model = lc.end(model, item["end"], now)
            got = stored[sid]
            assert (got["status"], _ms(got["ended_at"]), got["estimated"]) == (
                model.status.value,
                model.ended_at,
                model.estimated,
            ), (sid, got, model, start, now)
            if "end" not in item:  # beats after an end are refused, so only here is it exact
                assert _ms(got["last_seen_at"]) == model.last_seen_at, (sid, got)
        for client in clients:
            await client.aclose()
    finally:
        servers.stop_all()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_serve_with_workers_answers_from_several_processes(
    pg_url: str, tmp_path: Path
) -> None:
    servers = Servers(tmp_path, pg_url)
    try:
        server = await servers.start("--workers", "2")
        key = servers.bootstrap_key(server)
        async with httpx.AsyncClient(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/v1/sessions", json={"user_id": f"u{i}", "kind": "app"})
                    for i in range(40)
                )
            )
            assert {a.status_code for a in answers} == {201}
            listed = (await client.get("/v1/sessions", params={"limit": 100})).json()["items"]
            assert len(listed) == 40
    finally:
        servers.stop_all()
