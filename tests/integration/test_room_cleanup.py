"""The rooms' cleanup on SQLite and PostgreSQL: it closes exactly the inactive rooms, reads
only the index of them, is safe to run from two processes at once, purges what is past its
retention, and reports its runs."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from sessionkeeper.domain.events import ChangeEvent
from sessionkeeper.domain.job_runs import SHOWN_STEP_MS
from sessionkeeper.rooms import cleanup_store
from sessionkeeper.rooms.events import ParticipantLeft, RoomClosed
from sessionkeeper.rooms.service import RoomRequest, Rooms
from sessionkeeper.storage import liveness as liveness_store
from sessionkeeper.storage.database import Database
from tests.support import OPERATOR, T0, Harness, ms, running_app, settings_for

HOUR_S = 3600


async def room(api: Harness, room_id: str, kind: str = "lobby", headers: dict | None = None):
    response = await api.client.post(
        "/v1/rooms",
        json={"id": room_id, "kind": kind, "created_by": "host"},
        headers=headers or api.auth(),
    )
    assert response.status_code == 201, response.text


async def join(api: Harness, room_id: str, user: str, headers: dict | None = None) -> str:
    response = await api.client.post(
        f"/v1/rooms/{room_id}/participants", json={"user_id": user}, headers=headers or api.auth()
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["segments"][-1]["id"])


async def test_cleanup_closes_exactly_the_inactive_rooms(api_any: Harness) -> None:
    api = api_any
    closed_events: list[ChangeEvent] = []

    def keep(events: Sequence[ChangeEvent]) -> None:
        closed_events.extend(e for e in events if isinstance(e, RoomClosed | ParticipantLeft))

    api.runtime.db.writer.subscribers.after_commit.append(keep)
    api.services.tenants.create_tenant("other")
    theirs = {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}
    # Participants of "slow" rooms may be silent for 2,500 s before they time out.
    await api.put("/v1/policies/slow", {"presence_interval_s": 1000})

    await room(api, "empty-dead")  # nobody ever came
    await room(api, "dead")
    await room(api, "kept", kind="slow")
    await room(api, "ended")
    await room(api, "theirs-dead", headers=theirs)
    await join(api, "dead", "ann")
    kept = await join(api, "kept", "bob")
    await join(api, "theirs-dead", "eve", headers=theirs)
    api.advance(5)
    await api.post("/v1/rooms/ended/end", {})
    api.advance(5)
    await api.post("/v1/rooms/dead/participants/ann/presence", {})  # last seen at 10 s
    api.advance(190)
    await room(api, "empty-live")  # made at 200 s
    # Kept alive through the sessions API only, which does not move the room's own mark:
    # the cleanup must find the activity in the attendance and spare the room.
    api.advance(1800)
    beat = await api.post(f"/v1/sessions/{kept}/heartbeat", {})
    assert beat.status_code == 200
    await room(api, "live")
    await join(api, "live", "cat")
    api.advance(HOUR_S - 2000 + 100)  # now: 3,700 s

    closed_events.clear()
    cleaned = await api.post("/v1/maintenance/cleanup")
    assert cleaned.status_code == 200 and cleaned.json()["rooms_closed"] == 2
    statuses = {}
    for room_id in ("empty-dead", "dead", "kept", "ended", "empty-live", "live"):
        statuses[room_id] = (await api.get(f"/v1/rooms/{room_id}")).json()
    assert {k: v["status"] for k, v in statuses.items()} == {
        "empty-dead": "expired",
        "dead": "expired",
        "kept": "active",
        "ended": "ended",
        "empty-live": "active",
        "live": "active",
    }
    dead = statuses["dead"]
    assert (dead["end_reason"], dead["estimated"]) == ("cleanup", True)
    assert ms(dead["ended_at"]) == T0 + 10_000 + 15_000  # last activity + grace
    assert ms(statuses["empty-dead"]["ended_at"]) == T0 + 15_000
    assert dead["participants"][0]["segments"][0]["status"] == "timed_out"
    assert ms(statuses["kept"]["inactive_at"]) == T0 + 2_000_000 + HOUR_S * 1000
    theirs_now = (await api.client.get("/v1/rooms/theirs-dead", headers=theirs)).json()
    assert theirs_now["status"] == "expired"

    # A tenant's cleanup closes its own rooms only; the other's reads expired all the same.
    rooms_closed = sorted(e.room_id for e in closed_events if isinstance(e, RoomClosed))
    assert rooms_closed == ["dead", "empty-dead"]
    left = sorted(
        (e.user_id, e.reason.value) for e in closed_events if isinstance(e, ParticipantLeft)
    )
    assert left == [("ann", "timeout")]
    cleaned_theirs = await api.client.post("/v1/maintenance/cleanup", headers=theirs)
    assert cleaned_theirs.json()["rooms_closed"] == 1
    assert sorted(e.room_id for e in closed_events if isinstance(e, RoomClosed))[-1] == (
        "theirs-dead"
    )
    again = await api.post("/v1/maintenance/cleanup")
    assert again.json()["rooms_closed"] == 0

    status = (await api.get("/v1/maintenance/cleanup", scope="read")).json()
    assert status["last_run"]["rooms_closed"] == 0 and status["last_run"]["error"] is None
    # The next run is the server's periodic one, due an interval after the server's last:
    # none has run here.
    assert status["next_run_at"] is None
    health = (await api.get("/v1/health", scope="read")).json()
    own = [name for name in health["jobs"] if name.startswith("cleanup")]
    assert len(own) == 1 and own[0].startswith("cleanup@")  # the other tenant's run unseen
    assert health["jobs"][own[0]]["error"] is None
    assert ms(health["jobs"][own[0]]["at"]) == ms(status["last_run"]["at"])


def test_the_cleanup_reads_the_index_of_inactive_rooms(db_url: str) -> None:
    database = Database(settings_for(db_url))
    database.migrate()
    try:
        query = cleanup_store.inactive_rooms_query(T0)
        with database.write_engine.connect() as conn:
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            if conn.dialect.name == "sqlite":
                rows = conn.execute(sa.text("EXPLAIN QUERY PLAN " + sql))
            else:
                conn.execute(sa.text("ANALYZE rooms"))
                conn.execute(sa.text("SET enable_seqscan = off"))
                rows = conn.execute(sa.text("EXPLAIN " + sql))
            plan = " ".join(str(row) for row in rows)
    finally:
        database.close()
    assert "ix_rooms_inactive_at" in plan


async def make_rooms(api: Harness, count: int, prefix: str) -> None:
    rooms = api.services.of(Rooms)
    principal = api.services.tenants.operator("default")
    await asyncio.gather(
        *(
            rooms.rooms.create(
                principal, RoomRequest(id=f"{prefix}{n:05}", kind="k", created_by="h")
            )
            for n in range(count)
        )
    )


@pytest.mark.slow
async def test_two_processes_cleaning_at_once_close_each_room_once(db_url: str) -> None:
    # Made on the scripted clock in January 2026: long inactive by the real clock.
    count = cleanup_store.CHUNK + 500  # more than one chunk: both processes find work
    # Thousands of creates at once: each waits for those queued before it.
    async with running_app(db_url, write_timeout_s=300) as api:
        await make_rooms(api, count, "r")
        # The service was up all along by the real clock too: the months the scripted clock
        # skipped are no outage, which would hold every room open (tests/integration/
        # test_restart.py checks that).
        now = time.time_ns() // 1_000_000
        api.runtime.db.writer.run_sync(lambda tx: liveness_store.note_alive(tx.conn, now))
    env = {
        **os.environ,
        "SESSIONKEEPER_DATABASE_URL": db_url,
        "SESSIONKEEPER_SQLITE_SYNCHRONOUS": "NORMAL",
        "SESSIONKEEPER_WRITE_TIMEOUT_S": "120",
    }
    command = [sys.executable, "-m", "sessionkeeper", "cleanup"]
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    closed = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        found = re.search(r"closed (\d+) inactive rooms", out)
        assert found, out
        closed.append(int(found.group(1)))
    assert sum(closed) == count  # every room closed, none twice
    async with running_app(db_url) as api:
        page = (await api.get("/v1/rooms", status="expired", limit=500)).json()
        assert len(page["items"]) == 500
        assert all(ms(r["ended_at"]) == ms(r["created_at"]) + 15_000 for r in page["items"])
        assert (await api.get("/v1/rooms", status="active")).json()["items"] == []


async def test_rooms_past_their_retention_are_purged(db_url: str) -> None:
    operator = {"Authorization": "Bearer " + "op-" + "p" * 40}
    async with running_app(
        db_url, room_retention_days=1, operator_key=operator["Authorization"][7:]
    ) as api:
        await room(api, "old")
        await join(api, "old", "ann")
        made = await api.post("/v1/rooms/old/invites", {})
        used = await api.post(
            "/v1/rooms/old/participants",
            json={"user_id": "bob", "invite_token": made.json()["token"]},
        )
        assert used.status_code == 201
        await api.post("/v1/rooms/old/end", {})
        api.advance(12 * HOUR_S)
        await room(api, "recent")
        await api.post("/v1/rooms/recent/end", {})
        api.advance(12 * HOUR_S + 1)  # "old" ended over a day ago, "recent" half a day ago
        await room(api, "open")
        # The purge is the server's retention: a tenant's own cleanup does not run it.
        cleaned = (await api.post("/v1/maintenance/cleanup")).json()
        assert (cleaned["rooms_closed"], cleaned["purged"]) == (0, 0)
        assert (await api.get("/v1/rooms/old")).status_code == 200
        cleaned = (await api.client.post("/v1/maintenance/cleanup", headers=operator)).json()
        assert (cleaned["rooms_closed"], cleaned["purged"]) == (0, 1)
        assert (await api.get("/v1/rooms/old")).status_code == 404
        assert (await api.get("/v1/rooms/recent")).json()["status"] == "ended"
        assert (await api.get("/v1/rooms/open")).json()["status"] == "active"
        assert (await api.get("/v1/sessions", user_id="ann")).json()["items"] == []
        # Until the server's run is shown, the tenant sees its own run before it.
        status = (await api.get("/v1/maintenance/cleanup")).json()
        assert status["last_run"]["purged"] == 0 and status["last_run"]["duration_s"] is not None
        api.advance(SHOWN_STEP_MS / 1000)  # tenants see a server run a step after its start
        status = (await api.get("/v1/maintenance/cleanup")).json()
        assert status["retention_days"] == 1 and status["last_run"]["purged"] == 1
        with api.runtime.db.write_engine.connect() as conn:
            for table in ("room_invites", "room_invite_uses"):
                assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 0


async def test_a_tenant_reads_its_counts_of_the_server_run_it_is_shown(api_op: Harness) -> None:
    """A tenant sees a server cleanup from a step after its start, and the run before until
    then, each with the tenant's own counts: recording a run keeps the counts of the run
    still shown."""
    api = api_op
    await room(api, "a")
    await room(api, "b")
    api.advance(HOUR_S + 100)  # both inactive (a room times out after an hour)
    first = await api.client.post("/v1/maintenance/cleanup", headers=OPERATOR)
    assert first.json()["rooms_closed"] == 2
    api.advance(SHOWN_STEP_MS / 1000)
    shown = (await api.get("/v1/maintenance/cleanup")).json()["last_run"]
    assert shown["rooms_closed"] == 2
    api.advance(60)
    second = await api.client.post("/v1/maintenance/cleanup", headers=OPERATOR)
    assert second.json()["rooms_closed"] == 0
    still = (await api.get("/v1/maintenance/cleanup")).json()["last_run"]
    assert still == shown
    api.advance(SHOWN_STEP_MS / 1000)
    then = (await api.get("/v1/maintenance/cleanup")).json()["last_run"]
    assert then["rooms_closed"] == 0 and then["at"] == second.json()["at"]
