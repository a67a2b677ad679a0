"""A restart loses nothing and invents nothing: the first sweep runs at once on start."""

from __future__ import annotations

import asyncio

from sessionkeeper.assembly import create_app
from sessionkeeper.clock import ManualClock
from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import sessions as store
from tests.support import T0, running_app, settings_for


async def test_sessions_expired_while_down_close_at_their_estimated_end(db_url: str) -> None:
    clock = ManualClock(T0)
    async with running_app(db_url, clock) as api:
        await api.post("/v1/sessions", {"id": "gone", "user_id": "u", "kind": "game"})
        await api.post("/v1/sessions", {"id": "back", "user_id": "v", "kind": "game"})
        api.advance(60)
        await api.post("/v1/sessions/gone/heartbeat", {})
        tenant_id = api.services.tenants.operator("default")
    # Down for ten minutes; "back" will heartbeat again right after the restart.
    clock.advance(600)
    runtime = Runtime.open(settings_for(db_url, sweep_interval_s=3600), clock=clock)
    app = create_app(runtime, run_jobs=True)
    async with app.router.lifespan_context(app):
        for _ in range(200):
            if await app.state.services.sweeper.last_run() is not None:
                break
            await asyncio.sleep(0.01)
        gone = runtime.db.reader.run_sync(lambda c: store.get(c, tenant_id, "gone"))
        back = runtime.db.reader.run_sync(lambda c: store.get(c, tenant_id, "back"))
    runtime.close()
    assert gone is not None and back is not None
    assert gone.status is Status.TIMED_OUT and gone.estimated
    assert gone.ended_at == T0 + 60_000 + 30_000  # last heartbeat + grace, not restart time
    assert back.status is Status.TIMED_OUT
    assert back.ended_at == T0 + 30_000


async def test_sessions_still_in_time_survive_a_restart(db_url: str) -> None:
    clock = ManualClock(T0)
    async with running_app(db_url, clock) as api:
        await api.post("/v1/sessions", {"id": "alive", "user_id": "u", "kind": "game"})
    clock.advance(120)
    async with running_app(db_url, clock) as api:
        await api.post("/v1/maintenance/sweep")
        beat = await api.post("/v1/sessions/alive/heartbeat", {})
        assert beat.status_code == 200 and beat.json()["status"] == "active"
