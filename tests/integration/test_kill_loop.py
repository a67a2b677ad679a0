"""A server killed again and again under a steady load of SDK clients loses nothing it
acknowledged, and its database stays whole.

Clients are applications holding ``with client.session(...)`` blocks one after the other; a
transport writes down every 2xx answer (``tests/ledger.py``). The server is killed with
SIGKILL at random moments and restarted on the same port and database. At the end every
client leaves its block, everything kept is delivered, and every acknowledged start, beat and
end must be in the database.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from sessionkeeper.client import Client
from tests.ledger import Ledger, Recording, lost
from tests.processes import Servers

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CLIENTS = 6


def _application(base_url: str, key: str, ledger: Ledger, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with Client(
        base_url, key, backoff=0.05, retries=2, timeout=3, transport=Recording(ledger)
    ) as client:
        while not stop.is_set():
            with client.session(f"user-{seed}", "app", heartbeat_every=0.2, drain_wait=30) as s:
                stop.wait(rng.uniform(0.5, 2.0))
            assert s.pending == 0, f"{s.pending} writes of {s.id} were never delivered"


def _whole(database: Path) -> None:
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_sigkills_under_sdk_load_lose_nothing_acknowledged(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'sk.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    kills = 20 if backend == "sqlite" else 5
    servers = Servers(tmp_path, url, sweep_interval_s="1")
    server = await servers.start()
    key = servers.bootstrap_key(server)
    ledger, stop = Ledger(), threading.Event()
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}
    ) as admin:
        policy = {"heartbeat_interval_s": 1, "timeout_s": 6, "grace_s": 0.5}
        assert (await admin.put("/v1/policies/*", json=policy)).status_code == 200
    applications = [
        threading.Thread(target=_application, args=(server.base_url, key, ledger, stop, n))
        for n in range(CLIENTS)
    ]
    for application in applications:
        application.start()
    rng = random.Random(7)
    port = int(server.base_url.rsplit(":", 1)[1])
    try:
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(0.5, 1.5))
            server.kill()
            if backend == "sqlite":
                _whole(tmp_path / "sk.db")
            server = await servers.start(port=port)
        await asyncio.sleep(1)
    finally:
        stop.set()
        for application in applications:
            await asyncio.to_thread(application.join, 120)
    try:
        assert not any(application.is_alive() for application in applications)
        async with httpx.AsyncClient(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}
        ) as admin:
            stored = {}
            cursor = None
            while True:
                params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                page = (await admin.get("/v1/sessions", params=params)).json()
                stored.update({item["id"]: item for item in page["items"]})
                cursor = page["next_cursor"]
                if cursor is None:
                    break
        assert ledger.starts and ledger.beats and ledger.ends  # the load really ran
        assert lost(ledger, stored) == []
        # Every client left its blocks: nothing is left open.
        assert [sid for sid, s in stored.items() if s["status"] == "active"] == []
    finally:
        servers.stop_all()
