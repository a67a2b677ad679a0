"""Crash safety: a server killed with SIGKILL mid-stream loses nothing it acknowledged.

The server runs as a real process on a SQLite file (default ``synchronous``). Several client
tasks stream starts, heartbeats, batch heartbeats and ends at it and record every 2xx answer;
the server is killed with SIGKILL while requests are in flight and restarted on the same file.
After the restart every acknowledged write must be there, and nothing that was never sent may
appear. A second test checks that the sweep runs as soon as the server is back and closes what
expired while it was down at ``last_seen_at + grace``, never at the restart time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.processes import Server, Servers, client_for
from tests.support import OPERATOR, OPERATOR_KEY

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

WORKERS = 6


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_ms(value: str) -> int:
    return round(datetime.fromisoformat(value).timestamp() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


@dataclass
class Ledger:
    """What the clients sent, and what the server acknowledged (2xx) with which values."""

    sent_starts: dict[str, dict[str, Any]] = field(default_factory=dict)
    acked_starts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Highest last_seen_at an acknowledged heartbeat (single or batch) vouched for.
    acked_beats: dict[str, int] = field(default_factory=dict)
    sent_ends: set[str] = field(default_factory=set)
    acked_ends: dict[str, dict[str, Any]] = field(default_factory=dict)
    closed_by_server: set[str] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)
    in_flight: int = 0
    transport_errors: int = 0
    acks: int = 0

    def beat(self, session_id: str, last_seen_ms: int) -> None:
        self.acked_beats[session_id] = max(self.acked_beats.get(session_id, 0), last_seen_ms)


class Stream:
    """Client tasks that write continuously until told to stop or the server goes away."""

    def __init__(self, client: httpx.AsyncClient, ledger: Ledger, *, seed: int) -> None:
        self.client = client
        self.ledger = ledger
        self.stop = asyncio.Event()
        self.seed = seed

    async def request(self, method: str, path: str, body: Any = None) -> httpx.Response | None:
        self.ledger.in_flight += 1
        try:
            return await self.client.request(method, path, json=body)
        except httpx.TransportError:
            self.ledger.transport_errors += 1
            self.stop.set()
            return None
        finally:
            self.ledger.in_flight -= 1

    def check(self, response: httpx.Response, *expected: int) -> bool:
        if response.status_code in expected:
            if 200 <= response.status_code < 300:
                self.ledger.acks += 1
            return 200 <= response.status_code < 300
        self.ledger.unexpected.append(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:200]}"
        )
        return False

    async def worker(self, w: int, *, max_open: int, end_probability: float) -> None:
        rng = random.Random(self.seed * 100 + w)
        ledger = self.ledger
        open_ids: list[str] = []
        n = 0
        while not self.stop.is_set():
            action = rng.random()
            if len(open_ids) < max_open and (not open_ids or action < 0.3):
                n += 1
                session_id = f"w{w}-{n}"
                body = {
                    "id": session_id,
                    "user_id": f"user-{w}",
                    "kind": "game",
                    "label": rng.choice(["chess", "go", None]),
                    "attributes": {"worker": w, "n": n},
                }
                ledger.sent_starts[session_id] = body
                response = await self.request("POST", "/v1/sessions", body)
                if response is not None and self.check(response, 201):
                    ledger.acked_starts[session_id] = response.json()
                    ledger.beat(session_id, to_ms(response.json()["last_seen_at"]))
                    open_ids.append(session_id)
            elif action < 0.55:
                session_id = rng.choice(open_ids)
                response = await self.request("POST", f"/v1/sessions/{session_id}/heartbeat")
                if response is not None and self.check(response, 200, 409):
                    ledger.beat(session_id, to_ms(response.json()["last_seen_at"]))
                elif response is not None and response.status_code == 409:
                    ledger.closed_by_server.add(session_id)
                    open_ids.remove(session_id)
            elif action < 1 - end_probability:
                at = now_ms()
                ids = rng.sample(open_ids, k=min(len(open_ids), rng.randint(1, 10)))
                body = {"heartbeats": [{"session_id": sid, "at": iso(at)} for sid in ids]}
                response = await self.request("POST", "/v1/heartbeats", body)
                if response is not None and self.check(response, 200):
                    for item in response.json()["results"]:
                        if item["outcome"] == "ok":
                            ledger.beat(item["session_id"], at)
                        else:
                            ledger.unexpected.append(f"batch heartbeat: {item}")
            else:
                session_id = rng.choice(open_ids)
                open_ids.remove(session_id)
                ledger.sent_ends.add(session_id)
                body = None if rng.random() < 0.5 else {"at": iso(now_ms())}
                response = await self.request("POST", f"/v1/sessions/{session_id}/end", body)
                if response is not None and self.check(response, 200):
                    ledger.acked_ends[session_id] = response.json()

    async def run_then_kill(
        self, server: Server, seconds: float, *, max_open: int, end_probability: float
    ) -> int:
        """Stream for ``seconds``, SIGKILL the server with requests in flight; the kill time."""
        tasks = [
            asyncio.create_task(self.worker(w, max_open=max_open, end_probability=end_probability))
            for w in range(WORKERS)
        ]
        await asyncio.sleep(seconds)
        assert not self.stop.is_set(), f"a client lost the server early:\n{server.output()}"
        deadline = time.monotonic() + 2
        while self.ledger.in_flight == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0)
        assert self.ledger.in_flight > 0, "no request was in flight at the kill"
        server.kill()
        killed_at = now_ms()
        # The workers go on until one of them finds the server gone (a request in flight can
        # still have had its answer before the kill landed): the stream stops there.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=10)
        self.stop.set()
        await asyncio.gather(*tasks)
        return killed_at


async def all_sessions(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/v1/sessions", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        for item in page["items"]:
            assert item["id"] not in found, f"session {item['id']} listed twice"
            found[item["id"]] = item
        cursor = page["next_cursor"]
        if not cursor:
            return found


def check_acknowledged_writes(ledger: Ledger, stored: dict[str, dict[str, Any]]) -> None:
    never_sent = set(stored) - set(ledger.sent_starts)
    assert not never_sent, f"sessions that were never sent: {sorted(never_sent)}"
    lost = set(ledger.acked_starts) - set(stored)
    assert not lost, f"acknowledged starts lost: {sorted(lost)}"
    for session_id, session in stored.items():
        sent = ledger.sent_starts[session_id]
        for name in ("user_id", "kind", "label", "attributes"):
            assert session[name] == sent[name], (session_id, name, session[name], sent[name])
        acked = ledger.acked_starts.get(session_id)
        if acked is not None:
            assert session["started_at"] == acked["started_at"], session_id
        if session_id in ledger.acked_beats:
            assert to_ms(session["last_seen_at"]) >= ledger.acked_beats[session_id], (
                f"{session_id}: stored last_seen_at {session['last_seen_at']} is before the "
                f"acknowledged {iso(ledger.acked_beats[session_id])}"
            )
        assert to_ms(session["last_seen_at"]) >= to_ms(session["started_at"]), session_id
    for session_id, acked in ledger.acked_ends.items():
        session = stored[session_id]
        for name in ("status", "end_reason", "ended_at", "estimated"):
            assert session[name] == acked[name], (session_id, name, session[name], acked[name])


async def test_acknowledged_writes_survive_sigkill(servers: Servers) -> None:
    server = await servers.start()
    key = servers.bootstrap_key(server)
    ledger = Ledger()
    async with client_for(server, key) as client:
        stream = Stream(client, ledger, seed=1)
        killed_at = await stream.run_then_kill(server, 2.5, max_open=15, end_probability=0.15)
    assert server.proc.returncode == -9
    assert not ledger.unexpected, ledger.unexpected
    assert len(ledger.acked_starts) >= 20, "too little traffic before the kill to mean much"
    assert ledger.acked_ends and ledger.acked_beats
    assert ledger.transport_errors >= 1

    restarted = await servers.start()
    async with client_for(restarted, key) as client:
        stored = await all_sessions(client)
        check_acknowledged_writes(ledger, stored)
        for session_id, session in stored.items():
            assert to_ms(session["last_seen_at"]) <= killed_at, session_id
            if session_id not in ledger.sent_ends:
                # The default policy times out after 300 s: nothing may have closed these.
                assert session["status"] == "active", session
                assert session["ended_at"] is None, session
            elif session_id not in ledger.acked_ends:
                # The end was sent but its answer never came: either outcome is fine.
                assert session["status"] in ("active", "ended"), session
                if session["status"] == "ended":
                    assert session["end_reason"] == "client", session

        # Retrying what went unanswered is safe: a start repeats, an end is repeatable.
        unanswered = set(ledger.sent_starts) - set(ledger.acked_starts)
        for session_id in unanswered:
            body = ledger.sent_starts[session_id]
            response = await client.post("/v1/sessions", json=body)
            expected = 200 if session_id in stored else 201
            assert response.status_code == expected, (session_id, response.text)
        for session_id in ledger.sent_ends - set(ledger.acked_ends):
            response = await client.post(f"/v1/sessions/{session_id}/end")
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "ended"
            if stored[session_id]["status"] == "ended":
                assert response.json()["ended_at"] == stored[session_id]["ended_at"]
        after = await all_sessions(client)
        assert set(after) == set(stored) | unanswered


async def test_restart_sweeps_at_once_with_estimated_ends(servers: Servers) -> None:
    server = await servers.start()
    key = servers.bootstrap_key(server)
    grace_ms, timeout_ms = 500, 2000
    ledger = Ledger()
    async with client_for(server, key) as client:
        policy = {"heartbeat_interval_s": 1, "timeout_s": timeout_ms / 1000, "grace_s": 0.5}
        response = await client.put("/v1/policies/*", json=policy)
        assert response.status_code == 200, response.text
        stream = Stream(client, ledger, seed=2)
        killed_at = await stream.run_then_kill(server, 1.5, max_open=4, end_probability=0.05)
    assert not ledger.unexpected, ledger.unexpected
    assert not ledger.closed_by_server, "sessions timed out while their clients were beating"
    assert len(ledger.acked_starts) >= 10 and ledger.acked_ends

    # Down for longer than the timeout: every open session expires while nobody watches.
    await asyncio.sleep((timeout_ms + grace_ms + 500) / 1000)
    restart_at = now_ms()
    # The operator sees the server's sweep as it ran (its tenants, one step later).
    servers.settings["operator_key"] = OPERATOR_KEY
    restarted = await servers.start()
    async with client_for(restarted, key) as client:
        deadline = time.monotonic() + 10
        while True:
            health = (await client.get("/v1/health", headers=OPERATOR)).json()
            # The first server's own sweep is on record too: wait for one since the restart.
            swept = health["last_sweep"]
            if swept is not None and to_ms(swept["at"]) >= restart_at:
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        sweep = health["last_sweep"]
        assert sweep is not None, "no sweep ran after the restart"
        assert sweep["error"] is None, sweep
        assert to_ms(sweep["at"]) >= restart_at
        stored = await all_sessions(client)

    check_acknowledged_writes(ledger, stored)
    timed_out = [s for s in stored.values() if s["status"] == "timed_out"]
    assert sweep["closed"] == len(timed_out)
    assert health["active_sessions"] == 0 and health["overdue_sessions"] == 0
    for session_id, session in stored.items():
        if session_id in ledger.acked_ends:
            continue
        if session["status"] == "ended" and session_id in ledger.sent_ends:
            continue  # an end whose answer was lost to the kill
        assert session["status"] == "timed_out", session
        assert session["end_reason"] == "timeout", session
        assert session["estimated"] is True, session
        ended_at, last_seen = to_ms(session["ended_at"]), to_ms(session["last_seen_at"])
        assert ended_at == last_seen + grace_ms, session
        assert last_seen <= killed_at, session
        assert ended_at < restart_at, f"closed at the restart time, not its estimate: {session}"
    assert len(timed_out) >= 5
