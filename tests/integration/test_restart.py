"""A restart loses nothing and invents nothing: the downtime is nobody's silence, and the first
sweep runs at once on start."""

from __future__ import annotations

import asyncio

from sessionkeeper.assembly import create_app
from sessionkeeper.clock import ManualClock
from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import sessions as store
from tests.support import T0, iso, ms, running_app, settings_for


async def test_downtime_is_no_silence_and_the_silent_still_end_at_their_estimate(
    db_url: str,
) -> None:
    """The server's own downtime does not count as its clients' silence: a session whose
    deadline fell inside it is not closed on start, its client can beat again; one whose
    client never comes back times out later, at last heartbeat + grace, never at the restart."""
    clock = ManualClock(T0)
    async with running_app(db_url, clock) as api:
        await api.post("/v1/sessions", {"id": "gone", "user_id": "u", "kind": "game"})
        await api.post("/v1/sessions", {"id": "back", "user_id": "v", "kind": "game"})
        api.advance(60)
        await api.post("/v1/sessions/gone/heartbeat", {})
        tenant_id = api.services.tenants.operator("default")
    # Down for ten minutes: both deadlines (+300 s, +360 s) fall inside the downtime.
    clock.advance(600)
    runtime = Runtime.open(settings_for(db_url, sweep_interval_s=3600), clock=clock)
    app = create_app(runtime, run_jobs=True)
    async with app.router.lifespan_context(app):
        services = app.state.services
        for _ in range(200):
            if await services.sweeper.last_run() is not None:
                break
            await asyncio.sleep(0.01)
        gone = runtime.db.reader.run_sync(lambda c: store.get(c, tenant_id, "gone"))
        back = runtime.db.reader.run_sync(lambda c: store.get(c, tenant_id, "back"))
        assert gone is not None and back is not None
        assert (gone.status, back.status) == (Status.ACTIVE, Status.ACTIVE)
        # "back" beats again soon after the restart: it simply goes on.
        clock.advance(100)
        await services.sessions.heartbeat(tenant_id, "back")
        # "gone" never comes back: past its deadline, moved by the downtime, it times out.
        clock.advance(201)
        await services.sweeper.run()
        gone = runtime.db.reader.run_sync(lambda c: store.get(c, tenant_id, "gone"))
        back = runtime.db.reader.run_sync(lambda c: store.get(c, tenant_id, "back"))
    runtime.close()
    assert gone is not None and back is not None
    assert gone.status is Status.TIMED_OUT and gone.estimated
    assert gone.ended_at == T0 + 60_000 + 30_000  # last heartbeat + grace, not restart time
    assert back.status is Status.ACTIVE


async def test_sessions_still_in_time_survive_a_restart(db_url: str) -> None:
    clock = ManualClock(T0)
    async with running_app(db_url, clock) as api:
        await api.post("/v1/sessions", {"id": "alive", "user_id": "u", "kind": "game"})
    clock.advance(120)
    async with running_app(db_url, clock) as api:
        await api.post("/v1/maintenance/sweep")
        beat = await api.post("/v1/sessions/alive/heartbeat", {})
        assert beat.status_code == 200 and beat.json()["status"] == "active"


async def test_beats_kept_through_the_downtime_keep_the_deadline_it_granted(
    db_url: str,
) -> None:
    """A client that kept its beats while the service was down delivers them afterwards with
    their own times: they count, and the full timeout the service granted when it came back
    stands (the session neither times out nor gets amended)."""
    clock = ManualClock(T0)
    async with running_app(db_url, clock) as api:
        for sid in ("one", "many"):
            await api.post("/v1/sessions", {"id": sid, "user_id": sid, "kind": "game"})
    clock.advance(600)  # down ten minutes; both deadlines (+300 s) fell inside the downtime
    async with running_app(db_url, clock) as api:
        await api.post("/v1/maintenance/sweep")
        clock.advance(10)
        kept = [iso(T0 + s * 1000) for s in (100, 200, 290)]
        one = await api.post("/v1/sessions/one/heartbeat", {"at": kept[-1]})
        many = await api.post(
            "/v1/heartbeats", {"heartbeats": [{"session_id": "many", "at": at} for at in kept]}
        )
        assert (one.status_code, many.status_code) == (200, 200), many.text
        await api.post("/v1/maintenance/sweep")
        for sid in ("one", "many"):
            session = (await api.get(f"/v1/sessions/{sid}")).json()
            assert session["status"] == "active", session
            assert ms(session["last_seen_at"]) == T0 + 290_000
            assert ms(session["expires_at"]) == T0 + 600_000 + 300_000
            assert session["amended_count"] == 0


async def test_a_room_is_not_inactive_for_the_services_own_downtime(db_url: str) -> None:
    """Down two hours, longer than the room timeout (one hour): an open room whose
    participants could not report is not closed at the restart; it gets a full room timeout
    from the service's return. A room that was inactive before the outage began is closed."""
    clock = ManualClock(T0)
    async with running_app(db_url, clock) as api:
        assert (
            await api.post("/v1/rooms", {"id": "old", "kind": "lobby", "created_by": "h"})
        ).status_code == 201
        api.advance(3000)
        assert (
            await api.post("/v1/rooms", {"id": "r", "kind": "lobby", "created_by": "h"})
        ).status_code == 201
        assert (await api.post("/v1/rooms/r/participants", {"user_id": "p"})).status_code == 201
        api.advance(700)  # "old" went inactive 100 s ago, before the outage
        await api.services.liveness.note()
    clock.advance(7200)
    back = clock.now_ms()
    async with running_app(db_url, clock) as api:
        await api.post("/v1/maintenance/sweep")  # the first write: the recovery runs in it
        cleaned = await api.post("/v1/maintenance/cleanup")
        assert cleaned.status_code == 200, cleaned.text
        old = (await api.get("/v1/rooms/old")).json()
        room = (await api.get("/v1/rooms/r")).json()
    assert old["status"] == "expired"
    assert room["status"] == "active", room
    assert ms(room["inactive_at"]) == back + 3_600_000
