"""A presence source under several server processes on PostgreSQL: snapshots through either
process while API ends, sweeps and policy changes hit the same sessions through the other.

Each such write takes a session's row and then, by the trigger that moves the source's
revision, the source's row; a snapshot takes them the other way round, so the two can
deadlock. PostgreSQL breaks the deadlock and the writer runs the losing transaction again:
no client sees an error for it, and each process's memory of the source (the presence cache)
still answers exactly what the database holds.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sessionkeeper.storage.engine import create_engine
from tests.processes import Servers

USERS = [f"user-{n}" for n in range(240)]
SOURCE = "/v1/presence/bot"


def _entries(users: list[str]) -> list[dict[str, str]]:
    return [{"user_id": u, "kind": "voice", "label": "General"} for u in users]


async def _open_sessions(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"status": "active", "limit": 500}
    while True:
        page = (await client.get("/v1/sessions", params=params)).json()
        found += page["items"]
        if not page["next_cursor"]:
            return found
        params["cursor"] = page["next_cursor"]


def _deadlocks(db_url: str) -> int:
    engine = create_engine(db_url, role="reader")
    try:
        with engine.connect() as conn:
            query = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            return int(conn.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_snapshots_and_other_writes_through_two_processes_stay_exact(
    pg_url: str, tmp_path: Path
) -> None:
    servers = Servers(tmp_path, pg_url, sweep_interval_s="1")
    try:
        clients = await servers.admin_clients(2)
        policy = {"heartbeat_interval_s": 10, "timeout_s": 60, "grace_s": 5}
        assert (await clients[0].put("/v1/policies/*", json=policy)).status_code == 200
        rng = random.Random(11)
        deadlocks_before = _deadlocks(pg_url)
        answers: list[httpx.Response] = []
        stop = asyncio.Event()

        async def bot() -> None:
            """One tracker, sending a snapshot at a time through either process: a few of
            its users come and go each time."""
            present = rng.sample(USERS, 200)
            for _ in range(40):
                gone = set(rng.sample(present, 6))
                present = [u for u in present if u not in gone]
                present += rng.sample([u for u in USERS if u not in present], 6)
                snapshot = _entries(present)
                answers.append(await rng.choice(clients).put(SOURCE, json=snapshot))
            stop.set()

        async def ender() -> None:
            """Someone ending the source's sessions by the API through either process."""
            while not stop.is_set():
                open_now = await _open_sessions(rng.choice(clients))
                for item in rng.sample(open_now, min(5, len(open_now))):
                    path = f"/v1/sessions/{item['id']}/end"
                    answers.append(await rng.choice(clients).post(path, json={}))

        async def sweeper() -> None:
            while not stop.is_set():
                answers.append(await rng.choice(clients).post("/v1/maintenance/sweep"))

        async def policy_changes() -> None:
            timeouts = [45, 60, 75]
            while not stop.is_set():
                changed = {**policy, "timeout_s": rng.choice(timeouts)}
                answers.append(await rng.choice(clients).put("/v1/policies/*", json=changed))
                await asyncio.sleep(0.2)

        await asyncio.gather(bot(), ender(), sweeper(), policy_changes())
        refused = [(r.request.url.path, r.status_code, r.text) for r in answers if r.is_error]
        assert refused == [], refused[:3]

        # After the storm, one more state through each process in turn: each answers from
        # what the database holds, whatever the other process did meanwhile.
        final = rng.sample(USERS, 150)
        for client in (clients[0], clients[1], clients[0]):
            answer = await client.put(SOURCE, params={"reply": "summary"}, json=_entries(final))
            assert answer.status_code == 200, answer.text
            stored = await _open_sessions(clients[1])
            assert sorted(s["user_id"] for s in stored) == sorted(final)
            assert {s["source"] for s in stored} == {"bot"}
        again = await clients[1].put(SOURCE, params={"reply": "summary"}, json=_entries(final))
        summary = again.json()
        assert (summary["started_count"], summary["ended_count"]) == (0, 0), summary
        assert summary["refreshed_count"] == len(final)
        # How often the two orders met: reported, not asserted (it depends on timing).
        print(f"deadlocks broken by PostgreSQL: {_deadlocks(pg_url) - deadlocks_before}")
        for client in clients:
            await client.aclose()
    finally:
        servers.stop_all()
