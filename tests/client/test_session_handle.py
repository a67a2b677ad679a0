"""``with client.session(...)``: started, heartbeated in the background, ended on exit."""

from __future__ import annotations

import httpx
import pytest

from sessionkeeper.client import (
    AsyncClient,
    Client,
    EndReason,
    ServerUnavailable,
    Status,
)
from tests.client.live import FAST, Forwarding, Tenant, await_until, problem, wait_until


class Boom(Exception):
    pass


def test_session_ends_when_the_block_ends(client: Client) -> None:
    with client.session(user_id="u", kind="game", label="Chess", heartbeat_every=60) as s:
        assert client.get(s.id).is_active
        assert (s.session.label, s.session.user_id) == ("Chess", "u")
    ended = client.get(s.id)
    assert (ended.status, ended.end_reason) == (Status.ENDED, EndReason.CLIENT)
    assert s.session == ended
    assert not s.closed_by_server


def test_session_ends_when_the_block_raises(client: Client) -> None:
    with pytest.raises(Boom), client.session(user_id="u", kind="game", heartbeat_every=60) as s:
        raise Boom
    ended = client.get(s.id)
    assert (ended.status, ended.end_reason) == (Status.ENDED, EndReason.CLIENT)
    assert ended.estimated is False


def test_background_heartbeats_move_last_seen_at(client: Client) -> None:
    client.put_policy("hb", heartbeat_interval_s=1)
    with client.session(user_id="u", kind="hb") as s:
        assert s.heartbeat_every == 1.0  # read from the kind's policy
        started = s.session.last_seen_at
        moved = wait_until(lambda: client.get(s.id).last_seen_at > started, timeout=3)
        assert moved
        assert s.session.last_seen_at > started  # the handle keeps the answer
    assert client.get(s.id).status is Status.ENDED


def test_interval_comes_from_the_default_policy_or_the_caller(client: Client) -> None:
    client.put_policy("*", heartbeat_interval_s=7)
    with client.session(user_id="u", kind="no-policy-of-its-own") as s:
        assert s.heartbeat_every == 7.0
    with client.session(user_id="u", kind="game", heartbeat_every=0.5) as s:
        assert s.heartbeat_every == 0.5


def test_an_ingest_key_derives_the_interval_from_the_timeout(
    client: Client, base_url: str, tenant: Tenant
) -> None:
    """An ingest key may not read policies; the session's own timeout still tells."""
    client.put_policy("derived", heartbeat_interval_s=2, timeout_s=10)
    with (
        Client(base_url, tenant.ingest, **FAST) as ingest,
        ingest.session(user_id="u", kind="derived") as s,
    ):
        assert s.heartbeat_every == 2.0
    assert client.get(s.id).status is Status.ENDED


def test_a_timed_out_session_is_noticed_by_the_background_heartbeat(client: Client) -> None:
    # The beat comes later than the timeout: the server has closed the session by then.
    client.put_policy("short", heartbeat_interval_s=1, timeout_s=1)
    with client.session(
        user_id="u", kind="short", heartbeat_every=1.5, continue_after_gap=False
    ) as s:
        wait_until(lambda: s.closed_by_server, timeout=4)
        assert s.session.status is Status.TIMED_OUT
        assert s.session.end_reason is EndReason.TIMEOUT and s.session.estimated
    # Leaving the block does not touch a session the server closed.
    assert client.get(s.id).status is Status.TIMED_OUT
    assert s.last_error is None


def test_a_swept_session_is_noticed_by_a_heartbeat(client: Client) -> None:
    client.put_policy("short", heartbeat_interval_s=1, timeout_s=1, grace_s=0)
    with client.session(
        user_id="u", kind="short", heartbeat_every=3600, continue_after_gap=False
    ) as s:
        started = s.session.started_at

        def swept() -> bool:
            client.sweep()
            return client.get(s.id).status is Status.TIMED_OUT

        wait_until(swept)
        closed = s.heartbeat()
        assert s.closed_by_server
        assert closed.status is Status.TIMED_OUT and closed.ended_at == started  # grace 0
        assert s.session == closed
    assert client.get(s.id) == closed


def test_transient_heartbeat_failures_do_not_stop_the_session(
    base_url: str, tenant: Tenant
) -> None:
    failing = True

    def fault(request: httpx.Request) -> httpx.Response | None:
        if failing and request.url.path.endswith("/heartbeat"):
            return problem(503, "Storage unavailable")
        return None

    network = Forwarding(fault=fault)
    with Client(base_url, tenant.admin, transport=network.sync(), retries=1, backoff=0.01) as c:
        with c.session(user_id="u", kind="game", heartbeat_every=0.05) as s:
            started = s.session.last_seen_at
            wait_until(lambda: isinstance(s.last_error, ServerUnavailable))
            # Several beats, each retried once, all failed.
            wait_until(lambda: sum("/heartbeat" in r.url.path for r in network.attempts) >= 4)
            assert not s.closed_by_server
            failing = False
            wait_until(lambda: c.get(s.id).last_seen_at > started)
        assert c.get(s.id).status is Status.ENDED


async def test_async_session_ends_when_the_block_raises(aclient: AsyncClient) -> None:
    with pytest.raises(Boom):
        async with aclient.session(user_id="u", kind="game", heartbeat_every=60) as s:
            assert (await aclient.get(s.id)).is_active
            raise Boom
    ended = await aclient.get(s.id)
    assert (ended.status, ended.end_reason) == (Status.ENDED, EndReason.CLIENT)


async def test_async_background_heartbeats_move_last_seen_at(aclient: AsyncClient) -> None:
    await aclient.put_policy("hb", heartbeat_interval_s=1)
    async with aclient.session(user_id="u", kind="hb", label="x") as s:
        assert s.heartbeat_every == 1.0
        started = s.session.last_seen_at

        async def moved() -> bool:
            return (await aclient.get(s.id)).last_seen_at > started

        await await_until(moved, timeout=3)
    assert (await aclient.get(s.id)).status is Status.ENDED


async def test_async_timed_out_session_is_noticed(aclient: AsyncClient) -> None:
    await aclient.put_policy("short", heartbeat_interval_s=1, timeout_s=1)
    async with aclient.session(
        user_id="u", kind="short", heartbeat_every=1.5, continue_after_gap=False
    ) as s:
        await await_until(lambda: s.closed_by_server, timeout=4)
        assert s.session.status is Status.TIMED_OUT
    assert (await aclient.get(s.id)).status is Status.TIMED_OUT
