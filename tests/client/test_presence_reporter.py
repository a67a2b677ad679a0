"""PresenceReporter: the full state at start, on every tick, on demand, and after failures
the newest state rather than the one that failed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
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
    Session,
    Status,
)
from sessionkeeper.client.evidence import as_ms, now_ms
from tests.client.live import FAST, Forwarding, Tenant, await_until, hanging_network, wait_until


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


def client_sessions(base_url: str, tenant: Tenant, **filters: Any) -> list[Session]:
    """Read with a client of its own, past the test's network."""
    with Client(base_url, tenant.admin, **FAST) as client:
        return list(client.iter_sessions(source="bot", **filters))


async def aclient_sessions(base_url: str, tenant: Tenant, user_id: str) -> AsyncIterator[Session]:
    async with AsyncClient(base_url, tenant.admin, **FAST) as client:
        async for session in client.iter_sessions(source="bot", user_id=user_id):
            yield session


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


def sent_at(request: httpx.Request) -> int:
    return as_ms(datetime.fromisoformat(json.loads(request.content)["at"]))


def test_after_a_failure_the_kept_states_go_first_with_their_times(
    base_url: str, tenant: Tenant
) -> None:
    room = Room("ann")
    down, network = cuttable_network()
    with (
        Client(base_url, tenant.admin, transport=network.sync()) as client,
        PresenceReporter(client, "bot", room.snapshot, every=60, backoff=0.05) as reporter,
    ):
        wait_until(lambda: reporter.reports == 1)
        down.set()
        room.set("ann", "bob")  # this state fails to go out...
        reporter.report_now()
        wait_until(lambda: reporter.failures >= 2)  # ...is kept, and retried soon, not in 60 s
        assert isinstance(reporter.last_error, ServerUnavailable) and reporter.kept >= 1
        room.set("carl")  # ...and is followed by another before the server is back
        wait_until(lambda: reporter.failures >= 4)
        down.clear()
        wait_until(lambda: reporter.kept == 0 and reporter.failures == 0, timeout=3)
        assert active_users(client, "bot") == {"carl"}

    delivered = presence_puts(network.delivered)
    states = [sent_users(r) for r in delivered]
    # History in order, then the present: each state went out with the time it was taken.
    assert states[0] == ["ann"] and ["ann", "bob"] in states and states[-1] == ["carl"]
    assert states.index(["ann", "bob"]) < states.index(["carl"])
    ats = [sent_at(r) for r in delivered]
    assert ats == sorted(set(ats))
    # bob came and went while the server was unreachable: his session says when.
    [bob] = client_sessions(base_url, tenant, user_id="bob")
    first_without_bob = ats[states.index(["carl"])]
    assert as_ms(bob.started_at) == ats[states.index(["ann", "bob"])]
    assert bob.ended_at is not None and as_ms(bob.ended_at) == first_without_bob
    assert bob.end_reason == "presence_lost" and not bob.estimated


def cuttable_network() -> tuple[threading.Event, Forwarding]:
    """A network the test cuts (``down.set()``) and restores (``down.clear()``)."""
    down = threading.Event()
    network = Forwarding(
        fault=lambda r: httpx.ConnectError("down", request=r) if down.is_set() else None
    )
    return down, network


def test_a_partition_shorter_than_the_timeout_keeps_sessions_and_their_moments(
    base_url: str, tenant: Tenant
) -> None:
    room = Room("ann", "bob")
    down, network = cuttable_network()
    with Client(base_url, tenant.admin, transport=network.sync()) as client:
        client.put_policy("voice", heartbeat_interval_s=1, timeout_s=5, grace_s=0.5)
        with PresenceReporter(client, "bot", room.snapshot, every=0.1, timeout=5) as reporter:
            wait_until(lambda: active_users(client, "bot") == {"ann", "bob"})
            before = {s.user_id: s.id for s in client.iter_sessions(source="bot")}
            down.set()
            wait_until(lambda: reporter.failures >= 3)
            room.set("ann", "carl")  # bob leaves and carl comes during the partition
            left = now_ms()
            wait_until(lambda: reporter.failures >= 6)
            down.clear()
            restored = now_ms()
            wait_until(
                lambda: reporter.kept == 0 and active_users(client, "bot") == {"ann", "carl"}
            )
        ann, bob = (client.get(before[user]) for user in ("ann", "bob"))
        [carl] = client.list(source="bot", user_id="carl").items
    assert ann.is_active  # the same session all along
    # bob's end and carl's start are the moments the snapshots saw, not when they arrived.
    assert bob.ended_at is not None and left <= as_ms(bob.ended_at) < restored
    assert left <= as_ms(carl.started_at) < restored


def test_kept_snapshots_stay_within_the_cap(base_url: str, tenant: Tenant) -> None:
    changes = iter(range(1_000_000))

    def churn() -> list[PresenceEntry]:  # someone new every time: every snapshot is a change
        return [{"user_id": f"u{next(changes)}", "kind": "voice"}]

    down = threading.Event()
    kept: list[int] = []
    reporter: PresenceReporter | None = None

    def fault(request: httpx.Request) -> Exception | None:
        if reporter is not None:
            kept.append(reporter.kept)  # sampled in the reporter's thread, on every attempt
        return httpx.ConnectError("down", request=request) if down.is_set() else None

    network = Forwarding(fault=fault)
    with Client(base_url, tenant.admin, transport=network.sync()) as client:
        reporter = PresenceReporter(client, "bot", churn, every=0.005, backoff=0.001, max_kept=5)
        with reporter:
            wait_until(lambda: reporter.reports >= 1)
            down.set()
            wait_until(lambda: reporter.dropped >= 20)
            down.clear()
            wait_until(lambda: reporter.kept <= 1 and reporter.failures == 0)
    assert max(kept) <= 5


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


async def test_async_reporter_sends_the_kept_states_in_order(base_url: str, tenant: Tenant) -> None:
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
        await await_until(lambda: rep.kept == 0 and rep.reports >= 2)
        assert rep.failures == 0 and isinstance(rep.last_error, ServerUnavailable)
    delivered = presence_puts(network.delivered)
    states = [sent_users(r) for r in delivered]
    assert (
        states[0] == ["ann"]
        and states[-1] == ["bob"]
        and set(map(tuple, states))
        == {
            ("ann",),
            ("bob",),
        }
    )
    ats = [sent_at(r) for r in delivered]
    assert ats == sorted(set(ats))
    ann = [s async for s in aclient_sessions(base_url, tenant, "ann")]
    assert len(ann) == 1 and ann[0].ended_at is not None
    assert as_ms(ann[0].ended_at) == ats[states.index(["bob"])]


async def test_async_kept_snapshots_stay_within_the_cap(base_url: str, tenant: Tenant) -> None:
    changes = iter(range(1_000_000))
    down = True
    kept: list[int] = []
    reporter: AsyncPresenceReporter | None = None

    def fault(request: httpx.Request) -> Exception | None:
        if reporter is not None:
            kept.append(reporter.kept)
        return httpx.ConnectError("down", request=request) if down else None

    network = Forwarding(fault=fault)
    async with AsyncClient(base_url, tenant.admin, transport=network.async_()) as aclient:
        reporter = AsyncPresenceReporter(
            aclient,
            "bot",
            lambda: [{"user_id": f"u{next(changes)}", "kind": "voice"}],
            every=0.005,
            backoff=0.001,
            max_kept=5,
        )
        async with reporter:
            await await_until(lambda: reporter is not None and reporter.dropped >= 20)
            down = False
            await await_until(lambda: reporter is not None and reporter.reports >= 1)
    assert max(kept) <= 5


def test_a_partition_longer_than_the_timeout_keeps_the_sessions_of_those_who_stayed(
    base_url: str, tenant: Tenant
) -> None:
    """The snapshots kept through the partition were made in time, each within a timeout of
    the one before: delivered late, they carry the sessions on, as late beats do, instead of
    cutting them into pieces (the sweep closed them meanwhile)."""
    room = Room("ann")
    down, network = cuttable_network()
    with Client(base_url, tenant.admin, transport=network.sync()) as client:
        client.put_policy("voice", heartbeat_interval_s=1, timeout_s=2, grace_s=0.5)
        with PresenceReporter(client, "bot", room.snapshot, every=0.1, timeout=2) as reporter:
            wait_until(lambda: active_users(client, "bot") == {"ann"})
            [before] = client.list(source="bot").items
            down.set()
            # Read past the partition: the session times out meanwhile.
            wait_until(
                lambda: [s.status for s in client_sessions(base_url, tenant)] == ["timed_out"],
                timeout=10,
            )
            down.clear()
            wait_until(lambda: reporter.kept == 0 and active_users(client, "bot") == {"ann"})
        sessions = client.list(source="bot").items
    assert [s.id for s in sessions] == [before.id]  # one session all along
    assert sessions[0].amended_count >= 1


def test_someone_who_came_and_went_while_a_send_hung_gets_a_session(
    base_url: str, tenant: Tenant
) -> None:
    """A send that hangs on an unreachable server (it answers nothing for 3 s) does not stop
    the reporter from taking the state: bob, who came and went meanwhile, gets a session for
    the time he was there (taking and sending were one loop, and he got none)."""
    room = Room("ann")
    hanging, network = hanging_network(3)
    with Client(base_url, tenant.admin, transport=network.sync()) as client:
        client.put_policy("voice", heartbeat_interval_s=1, timeout_s=10, grace_s=0.5)
        with PresenceReporter(client, "bot", room.snapshot, every=30, backoff=0.05) as reporter:
            wait_until(lambda: reporter.reports >= 1)
            hanging.set()
            reporter.report_now()  # its send hangs
            time.sleep(1.3)
            room.set("ann", "bob")
            came = now_ms()
            reporter.report_now()
            time.sleep(1.0)
            room.set("ann")
            went = now_ms()
            reporter.report_now()
            time.sleep(0.2)
            hanging.clear()
            wait_until(lambda: reporter.kept == 0 and reporter.failures == 0, timeout=15)
    [bob] = client_sessions(base_url, tenant, user_id="bob")
    assert bob.ended_at is not None
    assert abs(as_ms(bob.started_at) - came) < 300 and abs(as_ms(bob.ended_at) - went) < 300
