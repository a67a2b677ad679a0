"""The SDK under real faults: an application process suspended longer than the timeout, and a
server killed and kept down longer than the timeout while the applications keep running.

Policy: heartbeats every second, a 2 s timeout, 0.5 s grace; the handles beat every 0.2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest

from sessionkeeper.client import AsyncClient, Client, EndReason, Session, Status
from sessionkeeper.client.evidence import as_ms, now_ms
from sessionkeeper.client.handles import AsyncSessionHandle, SessionHandle
from tests.client.live import FAST, Tenant, await_until, wait_until
from tests.client.processes import AppProcess, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TIMEOUT_S = 2.0
GRACE_MS = 500
EVERY_S = 0.2


def set_policy(client: Client) -> None:
    client.put_policy("app", heartbeat_interval_s=1, timeout_s=TIMEOUT_S, grace_s=GRACE_MS / 1000)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_suspended_process_is_not_credited_the_gap_and_continues_after_it(
    client: Client, base_url: str, tenant: Tenant, mode: str
) -> None:
    set_policy(client)
    app = AppProcess(mode, base_url, tenant.ingest, "app", EVERY_S)
    try:
        first_id = app.session_id
        wait_until(lambda: client.get(first_id).last_seen_at > client.get(first_id).started_at)
        app.suspend()  # SIGSTOP: every thread of the application stands still
        stopped = now_ms()
        wait_until(lambda: client.get(first_id).status is Status.TIMED_OUT, timeout=15)
        time.sleep(TIMEOUT_S / 2)  # and the gap goes on a while after the sweep
        resumed = now_ms()
        app.resume()
        wait_until(lambda: client.list(continues=first_id).items, timeout=15)
        time.sleep(1.0)  # the continuation records time of its own
        leaving = now_ms()
        printed = json.loads(app.leave().splitlines()[-1])
        left = now_ms()
    finally:
        app.kill()

    assert printed["pending"] == 0 and printed["ids"][0] == first_id
    first, second = (client.get(sid) for sid in printed["ids"])
    # The gap is not credited: the first ends at its last beat before the stop, plus grace.
    assert (first.status, first.end_reason, first.estimated) == (
        Status.TIMED_OUT,
        EndReason.TIMEOUT,
        True,
    )
    assert as_ms(first.last_seen_at) <= stopped
    assert first.ended_at is not None and as_ms(first.ended_at) <= stopped + GRACE_MS
    # The continuation captures the time after it, from the first beat made after resuming.
    assert second.continues == first_id and as_ms(second.started_at) >= resumed
    assert (second.status, second.estimated) == (Status.ENDED, False)
    assert second.ended_at is not None and leaving <= as_ms(second.ended_at) <= left
    credited = (first.duration_s or 0) + (second.duration_s or 0)
    true_time = (left - as_ms(first.started_at)) / 1000
    assert credited <= true_time - (resumed - stopped) / 1000 + GRACE_MS / 1000


def assert_whole(handle: SessionHandle | AsyncSessionHandle, entered: int, left: int) -> None:
    """One session from the moment the block was entered to the moment it was left."""
    assert handle.pending == 0 and len(handle.sessions) == 1, handle.sessions
    session: Session = handle.session
    assert (session.status, session.estimated) == (Status.ENDED, False)
    assert session.ended_at is not None
    assert entered <= as_ms(session.started_at) and as_ms(session.ended_at) <= left
    # Within the first beat interval of entering and of leaving: nothing in between is lost.
    assert as_ms(session.started_at) - entered < 1000 and left - as_ms(session.ended_at) < 1000


def test_sessions_go_on_through_a_server_killed_longer_than_the_timeout(
    server: ServerProcess,
) -> None:
    admin = Client(server.base_url, server.admin_key(), **FAST)
    set_policy(admin)
    entered: dict[str, int] = {}
    with Client(server.base_url, server.admin_key(), backoff=0.05) as app:
        with contextlib.ExitStack() as blocks:
            handles = []
            for n in range(4):
                entered[f"before-{n}"] = now_ms()
                handles.append(blocks.enter_context(app.session(f"before-{n}", "app")))
            wait_until(lambda: all(h.stored and h.pending == 0 for h in handles))
            assert all(h.heartbeat_every == 1.0 for h in handles)  # the policy, read

            server.kill()
            for n in range(2):  # entered while the server is down
                entered[f"during-{n}"] = now_ms()
                handles.append(blocks.enter_context(app.session(f"during-{n}", "app")))
            assert not any(h.stored for h in handles[4:])
            time.sleep(TIMEOUT_S * 1.75)  # down longer than the timeout
            server.start()  # same database, same port
            wait_until(lambda: all(h.stored and h.pending == 0 for h in handles), timeout=30)
            time.sleep(1.0)
            leaving = now_ms()
        left = now_ms()
    for handle in handles:
        assert_whole(handle, entered[handle.user_id], left)
        assert as_ms(handle.session.ended_at or handle.session.started_at) >= leaving
        stored = admin.get(handle.id)
        assert stored == handle.session and stored.continues is None
    admin.close()


async def test_async_sessions_go_on_through_a_server_killed_longer_than_the_timeout(
    server: ServerProcess,
) -> None:
    key = server.admin_key()
    with Client(server.base_url, key, **FAST) as admin:
        set_policy(admin)
    entered: dict[str, int] = {}
    async with AsyncClient(server.base_url, key, backoff=0.05) as app:
        async with contextlib.AsyncExitStack() as blocks:
            handles = []
            for n in range(3):
                entered[f"before-{n}"] = now_ms()
                handles.append(await blocks.enter_async_context(app.session(f"before-{n}", "app")))
            await await_until(lambda: all(h.stored and h.pending == 0 for h in handles))

            await asyncio.to_thread(server.kill)  # never block the loop: the beats run on it
            entered["during-0"] = now_ms()
            handles.append(await blocks.enter_async_context(app.session("during-0", "app")))
            await asyncio.sleep(TIMEOUT_S * 1.75)
            await asyncio.to_thread(server.start)
            await await_until(lambda: all(h.stored and h.pending == 0 for h in handles), timeout=30)
            await asyncio.sleep(1.0)
        left = now_ms()
    for handle in handles:
        assert_whole(handle, entered[handle.user_id], left)
