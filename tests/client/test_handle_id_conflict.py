"""A session handle whose id the server already holds for a session the handle did not start.

The server answers such a start 409 with the session that has the id. A handle takes that
session as its own only when it is what one of its own attempts sent (stored, its answer
lost); any other session is someone else's: the start is refused like any other 4xx — raised
on entering, or on leaving when it came later — and the other session is never beaten nor
ended, whether the handle is live, sync or async, or delivers a spool a crashed process left.

Every test runs against the live server. The other session's kind, ``game``, has the default
policy (a 300 s timeout), so nothing but the handle could change it while a test runs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionkeeper.client import AsyncClient, Client, Conflict, Session, Status
from sessionkeeper.client.chain import StartRequest
from sessionkeeper.client.evidence import MAX_PAST_MS, as_datetime, as_ms, now_ms
from sessionkeeper.client.outbox import Outbox
from sessionkeeper.client.spool import Spool
from tests.client.live import FAST, Forwarding, Tenant, await_until, wait_until
from tests.client.test_offline_handle import refused

pytestmark = pytest.mark.timeout(60)


class Network:
    """Between the application's client and the live server: up until the test cuts it."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.forwarding = Forwarding(fault=lambda r: refused(r) if self.down.is_set() else None)

    def touched(self, session_id: str) -> list[str]:
        """Every request that reached the server naming ``session_id`` other than a start:
        its beats (single or batched), its end, its reads."""
        seen = []
        for request in self.forwarding.delivered:
            path = request.url.path
            if path == "/v1/heartbeats":
                beats = json.loads(request.content)["heartbeats"]
                if any(beat["session_id"] == session_id for beat in beats):
                    seen.append(path)
            elif path.startswith("/v1/sessions/") and session_id in path:
                seen.append(path)
        return seen


@pytest.fixture
def network() -> Network:
    return Network()


@pytest.fixture
def app(base_url: str, tenant: Tenant, network: Network) -> Iterator[Client]:
    """The application's client, with an ingest key, behind the test's network."""
    with Client(base_url, tenant.ingest, transport=network.forwarding.sync(), **FAST) as app:
        yield app


def other_session(client: Client, session_id: str, **start: Any) -> Session:
    """A session under ``session_id`` started by another client: alice's unless ``start``
    says otherwise, begun ``ago_ms`` before now when given."""
    options: dict[str, Any] = {"label": "chess", "attributes": {"elo": 1500}, **start}
    if "ago_ms" in options:
        options["started_at"] = as_datetime(now_ms() - options.pop("ago_ms"))
    return client.start(options.pop("user_id", "alice"), "game", id=session_id, **options)


def assert_untouched(client: Client, before: Session) -> None:
    """The other session is as it was: still going, never beaten, not ended."""
    after = client.get(before.id)
    assert after == before
    assert after.status is Status.ACTIVE and after.ended_at is None


def assert_refused_for(handle: Any, other: Session) -> None:
    error = handle.last_error
    assert isinstance(error, Conflict), repr(error)
    assert error.session is not None and error.session.user_id == other.user_id
    assert not handle.stored and not handle.closed_by_server and handle.pending == 0


# A live handle


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({}, id="another user's session"),
        pytest.param({"user_id": "bob", "label": "go"}, id="another label"),
        pytest.param({"user_id": "bob", "attributes": {"elo": 900}}, id="other attributes"),
        # Everything the handle sends but the start time: the same user's earlier session
        # under a reused id (another process, an earlier run), still going.
        pytest.param(
            {"user_id": "bob", "ago_ms": 60_000},
            id="an earlier start of the same user",
        ),
    ],
)
def test_entering_with_an_id_another_session_has_raises_and_leaves_it_alone(
    client: Client, app: Client, network: Network, other: dict[str, Any]
) -> None:
    before = other_session(client, "taken-1", **other)
    handle = app.session(
        user_id="bob",
        kind="game",
        label="chess",
        attributes={"elo": 1500},
        id="taken-1",
        heartbeat_every=0.05,
    )
    with pytest.raises(Conflict) as raised, handle:
        pytest.fail("a refused start does not run the block")
    assert raised.value.session is not None and raised.value.session.id == "taken-1"
    assert handle.wait_delivered(5)
    assert_refused_for(handle, before)
    time.sleep(0.3)  # the ticker would have recorded beats by now
    assert network.touched("taken-1") == []
    assert_untouched(client, before)


def test_a_start_refused_only_after_the_block_began_raises_on_leaving(
    client: Client, base_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    """Entering while the server cannot be reached runs the block; the start lands later,
    meets the other session and is refused: what the block recorded is given up (the spool
    file with it), nothing reaches the other session, and leaving raises the refusal."""
    before = other_session(client, "taken-2")
    network = Network()
    network.down.set()
    with (
        Client(
            base_url, tenant.ingest, transport=network.forwarding.sync(), spool=tmp_path, **FAST
        ) as app,
        pytest.raises(Conflict),
        app.session(user_id="bob", kind="game", id="taken-2", heartbeat_every=0.05) as s,
    ):
        wait_until(lambda: s.pending >= 3 and list(tmp_path.glob("*.json")))
        network.down.clear()
        wait_until(lambda: s.last_error is not None and s.pending == 0)
        time.sleep(0.3)  # the block goes on: its beats are not recorded any more
    assert_refused_for(s, before)
    assert network.touched("taken-2") == []
    assert list(tmp_path.glob("*.json")) == []
    assert_untouched(client, before)
    assert client.list(user_id="bob").items == ()


async def test_async_entering_with_a_taken_id_raises_and_leaves_it_alone(
    client: Client, base_url: str, tenant: Tenant
) -> None:
    before = other_session(client, "taken-3")
    network = Network()
    async with AsyncClient(
        base_url, tenant.ingest, transport=network.forwarding.async_(), **FAST
    ) as app:
        handle = app.session(user_id="bob", kind="game", id="taken-3", heartbeat_every=0.05)
        with pytest.raises(Conflict):
            async with handle:
                pytest.fail("a refused start does not run the block")
        assert await handle.wait_delivered(5)
    assert_refused_for(handle, before)
    assert network.touched("taken-3") == []
    assert_untouched(client, before)


async def test_async_start_refused_after_the_block_began_raises_on_leaving(
    client: Client, base_url: str, tenant: Tenant
) -> None:
    before = other_session(client, "taken-4")
    network = Network()
    network.down.set()
    async with AsyncClient(
        base_url, tenant.ingest, transport=network.forwarding.async_(), **FAST
    ) as app:
        with pytest.raises(Conflict):
            async with app.session(
                user_id="bob", kind="game", id="taken-4", heartbeat_every=0.05
            ) as s:
                await await_until(lambda: s.pending >= 3)
                network.down.clear()
                await await_until(lambda: s.last_error is not None and s.pending == 0)
    assert_refused_for(s, before)
    assert network.touched("taken-4") == []
    assert_untouched(client, before)


# A spool a crashed process left


def spool_crashed_handle(directory: Path, session_id: str) -> Path:
    """What a process that recorded a start, beats and an end while the server could not be
    reached, then crashed, leaves in its spool."""
    t0 = now_ms() - 3_000
    outbox = Outbox(
        StartRequest("bob", "game", "chess", {"elo": 1500}),
        id=session_id,
        started_at=t0,
        heartbeat_every=0.5,
        continue_after_gap=True,
        max_pending=1_000,
        backoff=0.01,
    )
    for at in (t0 + 500, t0 + 1_000):
        outbox.beat(at)
    outbox.end(t0 + 1_500)
    kept = outbox.kept()
    assert kept is not None
    file = Spool(directory).file(session_id)
    file.sync(lambda: kept)
    file.release()
    return file.path


def test_a_spooled_start_whose_id_was_taken_meanwhile_is_refused(
    client: Client, base_url: str, tenant: Tenant, network: Network, tmp_path: Path
) -> None:
    path = spool_crashed_handle(tmp_path, "taken-5")
    before = other_session(client, "taken-5")  # while the application was down
    with Client(
        base_url, tenant.ingest, transport=network.forwarding.sync(), spool=tmp_path, **FAST
    ) as again:
        (handle,) = again.deliver_spooled(wait=5)
    assert_refused_for(handle, before)
    assert not path.exists()  # the server refused it: it would be refused again
    assert network.touched("taken-5") == []
    assert_untouched(client, before)


async def test_async_spooled_start_whose_id_was_taken_meanwhile_is_refused(
    client: Client, base_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    path = spool_crashed_handle(tmp_path, "taken-6")
    before = other_session(client, "taken-6")
    network = Network()
    async with AsyncClient(
        base_url, tenant.ingest, transport=network.forwarding.async_(), spool=tmp_path, **FAST
    ) as again:
        (handle,) = await again.deliver_spooled(wait=5)
    assert_refused_for(handle, before)
    assert not path.exists()
    assert network.touched("taken-6") == []
    assert_untouched(client, before)


# The one 409 that names the handle's own session


@pytest.mark.parametrize("through_spool", [False, True], ids=["live", "spooled"])
def test_a_start_stored_unanswered_then_sent_with_a_later_time_is_still_ours(
    client: Client, through_spool: bool
) -> None:
    """A start stored by the server whose answer was lost, and not answered for a day: by
    then its time is too old to send, so the next attempt starts at the oldest evidence still
    sendable and differs from the stored one. The 409 names the session the first attempt
    made, which is the handle's own, also after a crash between the two attempts."""
    now = now_ms()
    first_at = now - MAX_PAST_MS + 120_000  # still inside the server's window now
    box = Outbox(
        StartRequest("bob", "game", "chess", {"elo": 1500}),
        id="lost-answer",
        started_at=first_at,
        heartbeat_every=1.0,
        continue_after_gap=True,
        max_pending=1_000,
        backoff=0.01,
    )
    step = box.next_step(now)
    assert step is not None and step.kind == "start"
    stored = client.send(step.call)  # stored; the handle never hears the answer
    box.beat(now_ms())
    if through_spool:
        kept = box.kept()
        assert kept is not None
        box = Outbox.restored(json.loads(json.dumps(kept)), backoff=0.01)
    later = box.next_step(now + 120_000)  # the first time has left the window meanwhile
    assert later is not None and later.kind == "start"
    assert later.call.json["started_at"] != step.call.json["started_at"]
    with pytest.raises(Conflict) as refusal:
        client.send(later.call)
    box.settle(later, refusal.value)
    assert box.current.stored and box.outcome.refusal is None
    assert box.current.session == stored
    assert as_ms(stored.started_at) == first_at


def test_a_start_whose_answer_was_lost_is_answered_with_the_same_session(
    client: Client, base_url: str, tenant: Tenant
) -> None:
    """The common case of a lost answer: the handle sends the same start again and the server
    answers it 200 with the session the first attempt stored."""
    lost: list[str] = []

    def lose_first_start(request: httpx.Request, response: httpx.Response) -> None:
        if request.url.path == "/v1/sessions" and not lost:
            lost.append(request.url.path)
            raise httpx.ReadError("connection reset after the answer", request=request)

    network = Forwarding(after=lose_first_start)
    with (
        Client(base_url, tenant.ingest, transport=network.sync(), **FAST) as app,
        app.session(user_id="bob", kind="game", id="lost-once", heartbeat_every=0.05) as s,
    ):
        wait_until(lambda: s.stored)
        wait_until(lambda: client.get(s.id).last_seen_at > client.get(s.id).started_at)
    assert lost and s.last_error is not None and not isinstance(s.last_error, Conflict)
    assert client.get("lost-once").status is Status.ENDED
