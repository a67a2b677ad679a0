"""A session handle when the server cannot be reached: entering and leaving never fail, kept
beats are delivered later with their own times, and a real gap starts a continuation.

Every test runs against the live server; the client's transport cuts the network on the
test's script (``Network``). Policies: ``app`` beats every second with a 2 s timeout and a
0.5 s grace; ``short`` has a 1 s timeout and no grace. The live server sweeps every 0.5 s,
so a session left silent past its timeout is really closed before its late beats arrive.
After an outage a test waits up to ``DRAIN_S`` for the kept beats to be delivered: replaying
hundreds of them through the live server took up to 3 s here, more on a loaded machine.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime

import httpx
import pytest

from sessionkeeper.client import (
    AsyncClient,
    Client,
    EndReason,
    ServerUnavailable,
    Session,
    Status,
    Unauthorized,
)
from sessionkeeper.client.evidence import as_ms, now_ms
from sessionkeeper.client.handles import AsyncSessionHandle, SessionHandle
from tests.client.live import FAST, Forwarding, Tenant, await_until, problem, wait_until

TIMEOUT_MS = 2_000
DRAIN_S = 20.0


class Boom(Exception):
    pass


def refused(request: httpx.Request) -> Exception | httpx.Response:
    return httpx.ConnectError("connection refused", request=request)


OUTAGES: dict[str, Callable[[httpx.Request], Exception | httpx.Response]] = {
    "refused": refused,
    "timeout": lambda r: httpx.ReadTimeout("no answer", request=r),
    "503": lambda _r: problem(503, "Storage unavailable", {"Retry-After": "0"}),
    "429": lambda _r: problem(429, "Too many requests", {"Retry-After": "0"}),
}


class Network:
    """Between the client and the live server: up until the test cuts it."""

    def __init__(self, outage: str = "refused") -> None:
        self.down = threading.Event()
        self.outage = OUTAGES[outage]
        self.forwarding = Forwarding(fault=self._fault)
        self.probes: list[Callable[[], None]] = []  # run on every attempt, in the sender

    def _fault(self, request: httpx.Request) -> Exception | httpx.Response | None:
        for probe in self.probes:
            probe()
        return self.outage(request) if self.down.is_set() else None

    def watch(self, handle: SessionHandle | AsyncSessionHandle) -> list[int]:
        """The handle's undelivered evidence, sampled at every attempt to send."""
        samples: list[int] = []
        self.probes.append(lambda: samples.append(handle.pending))
        return samples

    def delivered_beats(self) -> list[int]:
        """The times of every heartbeat that reached the server, single or batched."""
        ats: list[int] = []
        for request in self.forwarding.delivered:
            body = json.loads(request.content) if request.content else {}
            if request.url.path == "/v1/heartbeats":
                ats += [ms(beat["at"]) for beat in body["heartbeats"]]
            elif request.url.path.endswith("/heartbeat"):
                ats.append(ms(body["at"]))
        return ats


def ms(value: str) -> int:
    return as_ms(datetime.fromisoformat(value))


def assert_chained(started: datetime, beats: list[int], ended: datetime) -> None:
    """No gap between the pieces of evidence the server got exceeded the timeout."""
    chain = sorted({as_ms(started), *beats, as_ms(ended)})
    assert max(b - a for a, b in itertools.pairwise(chain)) <= TIMEOUT_MS


@pytest.fixture
def policies(client: Client) -> None:
    client.put_policy("app", heartbeat_interval_s=1, timeout_s=TIMEOUT_MS / 1000, grace_s=0.5)
    client.put_policy("short", heartbeat_interval_s=1, timeout_s=1, grace_s=0)


@pytest.fixture
def network() -> Network:
    return Network()


@pytest.fixture
def app(base_url: str, tenant: Tenant, network: Network, policies: None) -> Iterator[Client]:
    """The application's client, with an ingest key, behind the test's network."""
    with Client(base_url, tenant.ingest, transport=network.forwarding.sync(), **FAST) as app:
        yield app


def closed_on_server(client: Client, session_id: str) -> bool:
    """Stored as timed out: the test needs a real close to amend. A read shows an overdue
    session as timed out before the sweep has stored it, and the deadline may pass between a
    sweep and the read after it; so once a read says timed out, one more sweep stores it."""
    client.sweep()
    if client.get(session_id).status is not Status.TIMED_OUT:
        return False
    client.sweep()
    return True


# Entering


def test_entering_succeeds_while_the_server_is_unreachable(
    client: Client, app: Client, network: Network
) -> None:
    network.down.set()
    with app.session("u", "app", heartbeat_every=0.05) as s:
        assert not s.stored and s.session.is_active  # as the client knows it
        entered = s.session.started_at
        wait_until(lambda: s.pending >= 3)  # the start and the beats since, kept
        assert client.list(user_id="u").items == ()
        network.down.clear()
        restored = now_ms()
        wait_until(lambda: s.stored and s.pending == 0)
        stored = client.get(s.id)
        # The start landed late, and says when the session really began.
        assert stored.started_at == entered and as_ms(entered) < restored
        assert stored.is_active and s.session.id == s.id
    ended = client.get(s.id)
    assert (ended.status, ended.estimated) == (Status.ENDED, False)
    assert s.sessions == (ended,)
    assert_chained(ended.started_at, network.delivered_beats(), ended.ended_at or entered)


def test_entering_waits_only_so_long_for_an_answer_that_does_not_come(
    client: Client, base_url: str, tenant: Tenant, policies: None
) -> None:
    """A network that swallows requests (no refusal, no answer) holds the start, not the
    application."""
    gate = threading.Event()

    def swallow(_request: httpx.Request) -> None:
        gate.wait()  # then the request goes through, as on a network that recovered

    network = Forwarding(fault=swallow)
    with (
        Client(base_url, tenant.ingest, transport=network.sync(), **FAST) as app,
        app.session("u", "app", heartbeat_every=0.05, answer_wait=0.1) as s,
    ):
        assert not s.stored  # entered although the start has not been answered
        gate.set()
        wait_until(lambda: s.stored)
        assert client.get(s.id).started_at == s.session.started_at
    assert client.get(s.id).status is Status.ENDED


# Leaving


@pytest.mark.parametrize("outage", ["refused", "timeout", "503", "429"])
def test_leaving_never_raises_and_the_end_lands_later_with_its_time(
    client: Client, base_url: str, tenant: Tenant, policies: None, outage: str
) -> None:
    network = Network(outage)
    with Client(base_url, tenant.ingest, transport=network.forwarding.sync(), **FAST) as app:
        with app.session("u", "app", heartbeat_every=0.05, drain_wait=0.05) as s:
            network.down.set()
            wait_until(lambda: isinstance(s.last_error, ServerUnavailable))
            leaving = now_ms()
        left = now_ms()
        assert s.pending >= 1  # the end, at least, is still to be delivered
        network.down.clear()
        wait_until(lambda: s.pending == 0)  # delivered in the background
    ended = client.get(s.id)
    assert (ended.status, ended.end_reason, ended.estimated) == (
        Status.ENDED,
        EndReason.CLIENT,
        False,
    )
    assert ended.ended_at is not None and leaving <= as_ms(ended.ended_at) <= left
    assert s.session == ended


def test_the_block_s_own_error_is_the_one_raised(
    client: Client, app: Client, network: Network
) -> None:
    with pytest.raises(Boom), app.session("u", "app", drain_wait=0.05) as s:
        network.down.set()
        raise Boom
    network.down.clear()
    wait_until(lambda: s.pending == 0)
    assert client.get(s.id).status is Status.ENDED


def test_attributes_the_server_refuses_are_dropped_and_the_session_goes_on(
    client: Client, app: Client
) -> None:
    """101 attributes (the server takes 100) on a beat: the server refuses them, the beat
    goes again without them, and the session is beaten and ended as if they had not been
    given (the handle stopped, its end never sent: the session timed out)."""
    with app.session("u", "app", heartbeat_every=0.05, drain_wait=2) as s:
        s.heartbeat(attributes={f"k{i}": i for i in range(101)})
        wait_until(lambda: s.last_error is not None)
        seen = as_ms(client.get(s.id).last_seen_at)
        wait_until(lambda: as_ms(client.get(s.id).last_seen_at) > seen)  # still beaten
    ended = client.get(s.id)
    assert (ended.status, ended.end_reason) == (Status.ENDED, EndReason.CLIENT)
    assert ended.attributes == {} and s.pending == 0


def test_a_refused_session_raises_on_entering_or_else_on_leaving(
    base_url: str, network: Network, policies: None
) -> None:
    with Client(base_url, "sk_unknown", transport=network.forwarding.sync(), **FAST) as stranger:
        with pytest.raises(Unauthorized), stranger.session("u", "app"):
            pytest.fail("a refused start does not run the block")
        network.down.set()
        with pytest.raises(Unauthorized), stranger.session("u", "app", drain_wait=2) as s:
            network.down.clear()  # the start lands only now, and is refused
            wait_until(lambda: s.last_error is not None and s.pending == 0)
        assert isinstance(s.last_error, Unauthorized) and not s.stored


# Kept beats


@pytest.mark.parametrize("outage", ["refused", "503", "429"])
def test_a_partition_longer_than_the_timeout_costs_no_time(
    client: Client, base_url: str, tenant: Tenant, policies: None, outage: str
) -> None:
    network = Network(outage)
    with (
        Client(base_url, tenant.ingest, transport=network.forwarding.sync(), **FAST) as app,
        app.session("u", "app", heartbeat_every=0.1) as s,
    ):
        wait_until(lambda: s.session.last_seen_at > s.session.started_at)
        network.down.set()
        # Silent for the server: the sweep closes the session at its estimated end.
        wait_until(lambda: closed_on_server(client, s.id), timeout=10)
        # The partition goes on for a while after the close: more beats are kept.
        time.sleep(TIMEOUT_MS / 1000)
        network.down.clear()
        wait_until(lambda: s.pending == 0 and client.get(s.id).is_active, timeout=DRAIN_S)
        reopened = client.get(s.id)
        assert reopened.amended_count >= 1 and reopened.amended_at is not None
    final = client.get(s.id)
    assert (final.status, final.estimated) == (Status.ENDED, False)
    assert len(s.sessions) == 1 and s.dropped == 0 and not s.closed_by_server
    assert client.list(continues=s.id).items == ()
    beats = network.delivered_beats()
    batched = [r for r in network.forwarding.delivered if r.url.path == "/v1/heartbeats"]
    assert batched, "the kept beats go through the batch endpoint"
    assert beats == sorted(beats)  # in the order they were made
    assert_chained(final.started_at, beats, final.ended_at or final.started_at)


def test_a_long_outage_keeps_memory_bounded(client: Client, app: Client, network: Network) -> None:
    """Beats every 10 ms through an outage of many timeouts: thinned to about one per
    timeout, none lost."""
    with app.session("u", "short", heartbeat_every=0.01) as s:
        pending = network.watch(s)
        wait_until(lambda: s.session.last_seen_at > s.session.started_at)
        network.down.set()
        wait_until(lambda: s.outbox.outcome.recorded >= 300, timeout=30)  # 3 s and more
        wait_until(lambda: closed_on_server(client, s.id))
        network.down.clear()
        wait_until(lambda: s.pending == 0 and client.get(s.id).is_active, timeout=DRAIN_S)
    assert max(pending) <= 12  # one beat per second of outage, and slack
    assert s.dropped == 0 and len(s.sessions) == 1
    final = client.get(s.id)
    assert (final.status, final.estimated) == (Status.ENDED, False)


def test_beyond_the_cap_the_oldest_beats_go_and_a_continuation_follows(
    client: Client, app: Client, network: Network
) -> None:
    with app.session("u", "short", heartbeat_every=0.01, max_pending=2) as s:
        pending = network.watch(s)
        wait_until(lambda: s.session.last_seen_at > s.session.started_at)
        network.down.set()
        wait_until(lambda: s.outbox.outcome.recorded >= 350, timeout=30)
        network.down.clear()
        wait_until(lambda: s.pending == 0 and len(s.sessions) == 2 and s.stored, timeout=DRAIN_S)
    assert max(pending) <= 2 and s.dropped > 0
    first, second = s.sessions
    assert first.status is Status.TIMED_OUT and second.continues == first.id
    assert client.get(second.id).status is Status.ENDED


# Continuations


def test_a_beat_after_a_real_gap_starts_a_continuation(client: Client, policies: None) -> None:
    with client.session(user_id="u", kind="short", heartbeat_every=3600) as s:
        first = s.session
        wait_until(lambda: (client.sweep(), closed_on_server(client, s.id))[1])
        before = now_ms()
        current = s.heartbeat()
        assert current.continues == first.id and current.is_active
        assert as_ms(current.started_at) >= before  # from the beat after the gap
        assert [x.id for x in s.sessions] == [first.id, current.id] and s.id == first.id
        assert s.sessions[0].status is Status.TIMED_OUT and not s.closed_by_server
        assert s.session == current
    assert client.get(current.id).status is Status.ENDED
    assert [x.id for x in client.list(continues=first.id).items] == [current.id]
    assert client.get(first.id).ended_at == first.started_at  # grace 0: nothing credited


def test_a_gap_inside_the_kept_beats_splits_them(
    client: Client, app: Client, network: Network
) -> None:
    # The end is kept too, so it is made right after the last beat whatever the machine's
    # speed, and the continuation ends by the client, not by its 1 s timeout.
    with app.session("u", "short", heartbeat_every=3600, answer_wait=0.05, drain_wait=0.05) as s:
        network.down.set()
        s.heartbeat()
        time.sleep(1.3)  # silent longer than the timeout: a real gap
        s.heartbeat()
        s.heartbeat()
    network.down.clear()
    wait_until(lambda: s.pending == 0 and len(s.sessions) == 2 and s.stored, timeout=DRAIN_S)
    t1, t2, t3 = network.delivered_beats()
    first, second = (client.get(x.id) for x in s.sessions)
    assert as_ms(first.last_seen_at) == t1  # made in time: counted
    assert (as_ms(second.started_at), second.continues) == (t2, first.id)
    assert as_ms(second.last_seen_at) == t3 and second.status is Status.ENDED


# The same, with the asyncio client


@pytest.fixture
async def aapp(
    base_url: str, tenant: Tenant, network: Network, policies: None
) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        base_url, tenant.ingest, transport=network.forwarding.async_(), **FAST
    ) as aapp:
        yield aapp


async def test_async_entering_succeeds_while_the_server_is_unreachable(
    client: Client, aapp: AsyncClient, network: Network
) -> None:
    network.down.set()
    async with aapp.session("u", "app", heartbeat_every=0.05) as s:
        assert not s.stored and s.session.is_active
        await await_until(lambda: s.pending >= 3)
        network.down.clear()
        await await_until(lambda: s.stored and s.pending == 0)
        assert client.get(s.id).started_at == s.session.started_at
    assert client.get(s.id).status is Status.ENDED


async def test_async_refused_session_raises_on_leaving(
    base_url: str, network: Network, policies: None
) -> None:
    network.down.set()
    async with AsyncClient(base_url, "sk_unknown", transport=network.forwarding.async_()) as c:
        with pytest.raises(Unauthorized):
            async with c.session("u", "app", drain_wait=2) as s:
                network.down.clear()
                await await_until(lambda: s.last_error is not None and s.pending == 0)


async def test_async_leaving_never_raises(
    client: Client, aapp: AsyncClient, network: Network
) -> None:
    async with aapp.session("u", "app", heartbeat_every=0.05, drain_wait=0.05) as s:
        network.down.set()
        await await_until(lambda: isinstance(s.last_error, ServerUnavailable))
        leaving = now_ms()
    left = now_ms()
    network.down.clear()
    await await_until(lambda: s.pending == 0)
    ended = client.get(s.id)
    assert ended.ended_at is not None and leaving <= as_ms(ended.ended_at) <= left
    with pytest.raises(Boom):
        async with aapp.session("u", "app", drain_wait=0.05):
            network.down.set()
            raise Boom


async def test_async_partition_longer_than_the_timeout_costs_no_time(
    client: Client, aapp: AsyncClient, network: Network
) -> None:
    async with aapp.session("u", "app", heartbeat_every=0.1) as s:
        await await_until(lambda: s.session.last_seen_at > s.session.started_at)
        network.down.set()
        await await_until(lambda: closed_on_server(client, s.id), timeout=10)
        network.down.clear()
        await await_until(lambda: s.pending == 0 and client.get(s.id).is_active, timeout=DRAIN_S)
    final = client.get(s.id)
    assert final.amended_count >= 1 and final.status is Status.ENDED
    assert len(s.sessions) == 1 and s.dropped == 0
    assert_chained(final.started_at, network.delivered_beats(), final.ended_at or final.started_at)


async def test_async_long_outage_keeps_memory_bounded(
    client: Client, aapp: AsyncClient, network: Network
) -> None:
    async with aapp.session("u", "short", heartbeat_every=0.01) as s:
        pending = network.watch(s)
        await await_until(lambda: s.session.last_seen_at > s.session.started_at)
        network.down.set()
        await await_until(lambda: s.outbox.outcome.recorded >= 300, timeout=30)
        await await_until(lambda: closed_on_server(client, s.id))
        network.down.clear()
        await await_until(lambda: s.pending == 0 and client.get(s.id).is_active, timeout=DRAIN_S)
    assert max(pending) <= 12 and s.dropped == 0 and len(s.sessions) == 1


async def test_async_beat_after_a_real_gap_starts_a_continuation(
    client: Client, aclient: AsyncClient, policies: None
) -> None:
    async with aclient.session("u", "short", heartbeat_every=3600) as s:
        first = s.session
        await await_until(lambda: (client.sweep(), closed_on_server(client, s.id))[1])
        current = await s.heartbeat()
        assert current.continues == first.id and current.is_active
        assert [x.id for x in s.sessions] == [first.id, current.id]
    assert client.get(current.id).status is Status.ENDED
    async with aclient.session(
        "u", "short", heartbeat_every=3600, continue_after_gap=False
    ) as stopped:
        await await_until(lambda: (client.sweep(), closed_on_server(client, stopped.id))[1])
        closed: Session = await stopped.heartbeat()
        assert stopped.closed_by_server and closed.status is Status.TIMED_OUT
        assert len(stopped.sessions) == 1
