"""PresenceReporter: the full state at start, on every tick, on demand, and after failures
the newest state rather than the one that failed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sessionkeeper.client import (
    AsyncClient,
    AsyncPresenceReporter,
    Client,
    InvalidInput,
    PresenceEntry,
    PresenceReporter,
    ServerUnavailable,
    Status,
)
from tests.client.live import Forwarding, Tenant, await_until, wait_until


class Room:
    """Who is in voice right now, changed by the test while the reporter reads it."""

    def __init__(self, *users: str) -> None:
        self._users = list(users)
        self._lock = threading.Lock()
        self.reads = 0

    def set(self, *users: str) -> None:
        with self._lock:
            self._users = list(users)

    def snapshot(self) -> list[PresenceEntry]:
        with self._lock:
            self.reads += 1
            return [{"user_id": u, "kind": "voice", "label": "General"} for u in self._users]


def active_users(client: Client, source: str) -> set[str]:
    return {s.user_id for s in client.iter_sessions(source=source, status=Status.ACTIVE)}


def sent_users(request: httpx.Request) -> list[str]:
    return [entry["user_id"] for entry in json.loads(request.content)["entries"]]


def presence_puts(requests: list[httpx.Request]) -> list[httpx.Request]:
    return [r for r in requests if r.method == "PUT" and "/v1/presence/" in r.url.path]


def test_reports_at_start_and_on_every_tick(client: Client) -> None:
    room = Room("ann")
    with PresenceReporter(client, "bot", room.snapshot, every=0.2) as reporter:
        wait_until(lambda: reporter.reports >= 1)
        first = client.list(source="bot").items[0]
        wait_until(lambda: reporter.reports >= 3, timeout=3)
    reports = reporter.reports
    assert reporter.last_result is not None and reporter.last_result.refreshed_count == 1
    # One session, kept alive by the checkpoints rather than restarted by each.
    [session] = client.list(source="bot").items
    assert session.id == first.id and session.is_active
    assert session.last_seen_at > first.last_seen_at
    # Stopped means stopped.
    reads = room.reads
    time.sleep(0.4)  # two ticks
    assert (reporter.reports, room.reads) == (reports, reads)


def test_report_now_does_not_wait_for_the_tick(client: Client) -> None:
    room = Room("ann")
    with PresenceReporter(client, "bot", room.snapshot, every=60) as reporter:
        wait_until(lambda: reporter.reports == 1)
        room.set("ann", "bob")
        reporter.report_now()
        wait_until(lambda: active_users(client, "bot") == {"ann", "bob"}, timeout=2)
        room.set("bob")
        reporter.report_now()
        wait_until(lambda: active_users(client, "bot") == {"bob"}, timeout=2)
    ann = client.list(source="bot", user_id="ann").items[0]
    assert ann.status is Status.ENDED and ann.end_reason == "presence_lost"


def test_after_a_failure_the_newest_state_is_sent(base_url: str, tenant: Tenant) -> None:
    room = Room("ann")
    down = threading.Event()
    network = Forwarding(
        fault=lambda r: httpx.ConnectError("down", request=r) if down.is_set() else None
    )
    with (
        Client(base_url, tenant.admin, transport=network.sync()) as client,
        PresenceReporter(client, "bot", room.snapshot, every=60, backoff=0.05) as reporter,
    ):
        wait_until(lambda: reporter.reports == 1)
        down.set()
        room.set("ann", "bob")  # this state fails to go out...
        reporter.report_now()
        wait_until(lambda: reporter.failures >= 2)  # ...and is retried soon, not in 60 s
        assert isinstance(reporter.last_error, ServerUnavailable)
        room.set("carl")  # ...and is superseded before the server is back
        down.clear()
        wait_until(lambda: reporter.reports == 2, timeout=3)
        assert reporter.failures == 0
        assert active_users(client, "bot") == {"carl"}
        # bob came and went while the server was unreachable: no session claims he stayed.
        assert client.list(source="bot", user_id="bob").items == ()

    attempted = [sent_users(r) for r in presence_puts(network.attempts)]
    delivered = [sent_users(r) for r in presence_puts(network.delivered)]
    assert ["ann", "bob"] in attempted
    assert delivered == [["ann"], ["carl"]]  # the stale state never reached the server


def test_a_refused_state_is_replaced_by_the_next_one(client: Client) -> None:
    entries: list[dict[str, Any]] = [{"user_id": "ann", "kind": "not a kind!"}]
    with PresenceReporter(client, "bot", lambda: entries, every=60) as reporter:
        wait_until(lambda: reporter.failures == 1)
        error = reporter.last_error
        assert isinstance(error, InvalidInput)
        assert error.field is not None and error.field.endswith("entries.0.kind")
        entries = [{"user_id": "ann", "kind": "voice"}]
        reporter.report_now()
        wait_until(lambda: reporter.reports == 1)
    assert active_users(client, "bot") == {"ann"}


def test_a_snapshot_function_that_raises_is_retried(client: Client) -> None:
    calls = 0

    def flaky() -> list[PresenceEntry]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("cache not ready")
        return [{"user_id": "ann", "kind": "voice"}]

    with PresenceReporter(client, "bot", flaky, every=60, backoff=0.01) as reporter:
        wait_until(lambda: reporter.reports == 1)
    assert isinstance(reporter.last_error, RuntimeError)
    assert active_users(client, "bot") == {"ann"}


def test_every_must_be_positive(client: Client) -> None:
    with pytest.raises(ValueError):
        PresenceReporter(client, "bot", list, every=0)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-fn", "async-fn"])
async def test_async_reporter(aclient: AsyncClient, asynchronous: bool) -> None:
    room = Room("ann")

    async def read_room() -> list[PresenceEntry]:
        return room.snapshot()

    snapshot_fn: Callable[[], Any] = read_room if asynchronous else room.snapshot
    async with AsyncPresenceReporter(aclient, "bot", snapshot_fn, every=60) as reporter:
        await await_until(lambda: reporter.reports == 1)
        room.set("bob")
        reporter.report_now()
        await await_until(lambda: reporter.reports == 2, timeout=2)
    users = {s.user_id async for s in aclient.iter_sessions(source="bot", status="active")}
    assert users == {"bob"}


async def test_async_reporter_recovers_with_the_newest_state(base_url: str, tenant: Tenant) -> None:
    room = Room("ann")
    failures_left = 2

    def fault(request: httpx.Request) -> Exception | None:
        nonlocal failures_left
        if request.method == "PUT" and failures_left:
            failures_left -= 1
            room.set("bob")  # the state changes while the server is unreachable
            return httpx.ConnectError("down", request=request)
        return None

    network = Forwarding(fault=fault)
    async with (
        AsyncClient(base_url, tenant.admin, transport=network.async_()) as aclient,
        AsyncPresenceReporter(aclient, "bot", room.snapshot, every=60, backoff=0.01) as rep,
    ):
        await await_until(lambda: rep.reports == 1)
        assert rep.failures == 0 and isinstance(rep.last_error, ServerUnavailable)
        assert [sent_users(r) for r in presence_puts(network.delivered)] == [["bob"]]
