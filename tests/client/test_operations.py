"""Every client operation against the live server, sync and async."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sessionkeeper.client import (
    AsyncClient,
    BatchItem,
    Client,
    Conflict,
    EndReason,
    Session,
    Status,
)


def test_start_heartbeat_end_round_trip(client: Client) -> None:
    started = client.start("u1", "game", label="Minecraft", attributes={"server": "eu"})
    assert isinstance(started, Session)
    assert started.status is Status.ACTIVE and started.is_active
    assert (started.user_id, started.kind, started.label) == ("u1", "game", "Minecraft")
    assert started.attributes == {"server": "eu"}
    assert started.started_at.tzinfo is not None
    assert started.expires_at is not None and started.expires_at > started.last_seen_at
    # The client made the id: time-ordered, in the server's own format.
    assert len(started.id) == 26

    beat = client.heartbeat(started.id, attributes={"level": 3})
    assert beat.last_seen_at >= started.last_seen_at
    assert beat.attributes == {"server": "eu", "level": 3}

    ended = client.end(started.id)
    assert ended.status is Status.ENDED
    assert ended.end_reason is EndReason.CLIENT
    assert ended.estimated is False
    assert ended.ended_at is not None and ended.expires_at is None
    assert ended.duration_s == pytest.approx((ended.ended_at - ended.started_at).total_seconds())
    assert client.get(started.id) == ended
    assert client.end(started.id) == ended  # ending again changes nothing


def test_start_with_explicit_id_and_time(client: Client) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    session = client.start("u1", "lesson", id="lesson-1", started_at=at)
    assert session.id == "lesson-1"
    assert abs((session.started_at - at).total_seconds()) < 0.002


def test_repeated_start_with_the_same_id_is_the_same_session(client: Client) -> None:
    first = client.start("u1", "game", label="Chess", id="game-7")
    again = client.start("u1", "game", label="Chess", id="game-7")
    assert again == first
    assert [s.id for s in client.iter_sessions(user_id="u1")] == ["game-7"]

    with pytest.raises(Conflict) as caught:
        client.start("u1", "game", label="Go", id="game-7")
    assert caught.value.status == 409
    assert caught.value.session == first


def test_list_pages_and_iteration(client: Client) -> None:
    ids = [client.start("lister", "page", id=f"p-{i}").id for i in range(5)]
    client.end("p-0")

    page = client.list(user_id="lister", limit=2)
    assert len(page.items) == 2 and page.next_cursor is not None
    pages = list(client.pages(user_id="lister", limit=2))
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert pages[-1].next_cursor is None
    listed = [s.id for s in client.iter_sessions(user_id="lister", limit=2)]
    assert sorted(listed) == sorted(ids)
    assert [s.id for s in client.iter_sessions(user_id="lister", status=Status.ENDED)] == ["p-0"]
    assert client.list(user_id="lister", started_after=datetime.now(UTC)).items == ()


def test_heartbeat_many(client: Client) -> None:
    live = client.start("u", "game").id
    closed = client.start("u", "game").id
    client.end(closed)
    result = client.heartbeat_many([live, (closed, None), ("missing", datetime.now(UTC))])
    assert result.results == (
        BatchItem(live, "ok", Status.ACTIVE),
        BatchItem(closed, "closed", Status.ENDED),
        BatchItem("missing", "not_found", None),
    )
    assert (result.ok, result.closed, result.not_found) == (1, 1, 1)


def test_policies_health_and_sweep(client: Client) -> None:
    assert client.policies().for_kind("game") == client.policies().items[0]
    assert client.policies().items[0].builtin  # '*' is listed even when never set

    policy = client.put_policy("game", heartbeat_interval_s=2)
    assert (policy.kind, policy.heartbeat_interval_s, policy.timeout_s) == ("game", 2, 10)
    policies = client.policies()
    assert policies.for_kind("game") == policy
    fallback = policies.for_kind("voice")
    assert fallback is not None and fallback.kind == "*"

    client.start("u", "game")
    health = client.health()
    assert health.status in ("ok", "degraded")
    assert health.database and health.active_sessions == 1
    assert health.kinds["game"].active == 1
    assert health.overdue is None
    assert client.health(details=True).overdue == ()

    swept = client.sweep()
    assert swept.closed >= 0 and swept.at.tzinfo is not None


def test_presence_snapshot_and_changes(client: Client) -> None:
    entries = [
        {"user_id": "a", "kind": "voice", "label": "General"},
        {"user_id": "b", "kind": "game", "label": "Minecraft", "attributes": {"x": 1}},
    ]
    dry = client.presence_snapshot("bot", entries, dry_run=True)
    assert dry.dry_run and dry.started_count == 2 and dry.started == ()
    assert client.list(source="bot").items == ()

    applied = client.presence_snapshot("bot", entries)
    assert applied.started_count == 2 and len(applied.started) == 2
    assert {(e.user_id, e.kind, e.label) for e in applied.to_start} == {
        ("a", "voice", "General"),
        ("b", "game", "Minecraft"),
    }

    changed = client.presence_changes(
        "bot",
        joins=[{"user_id": "c", "kind": "voice", "label": "General"}],
        leaves=[{"user_id": "a", "kind": "voice", "label": "General"}],
    )
    assert (changed.started_count, changed.ended_count) == (1, 1)
    assert changed.to_end[0].user_id == "a"
    active = {s.user_id for s in client.iter_sessions(source="bot", status="active")}
    assert active == {"b", "c"}

    # A state older than one applied already (a late retry) changes nothing.
    late = client.presence_snapshot("bot", [], at=datetime.now(UTC) - timedelta(minutes=1))
    assert late.stale and late.ended_count == 0
    assert not changed.stale
    active = {s.user_id for s in client.iter_sessions(source="bot", status="active")}
    assert active == {"b", "c"}


async def test_async_operations(aclient: AsyncClient) -> None:
    started = await aclient.start("u1", "game", label="Minecraft")
    assert started.is_active
    beat = await aclient.heartbeat(started.id)
    assert beat.last_seen_at >= started.last_seen_at
    ended = await aclient.end(started.id, reason="admin")
    assert (ended.status, ended.end_reason) == (Status.ENDED, EndReason.ADMIN)
    assert await aclient.get(started.id) == ended
    assert (await aclient.start("u1", "game", id="same")) == (
        await aclient.start("u1", "game", id="same")
    )
    listed = [s.id async for s in aclient.iter_sessions(user_id="u1", limit=1)]
    assert sorted(listed) == sorted([started.id, "same"])
    pages = [p async for p in aclient.pages(user_id="u1", limit=1)]
    assert len(pages) == 2
    assert (await aclient.heartbeat_many(["same"])).ok == 1
    assert (await aclient.put_policy("*", heartbeat_interval_s=5)).timeout_s == 25
    fallback = (await aclient.policies()).for_kind("anything")
    assert fallback is not None and fallback.heartbeat_interval_s == 5
    assert (await aclient.health()).active_sessions == 1
    assert (await aclient.sweep()).closed >= 0
    snap = await aclient.presence_snapshot("src", [{"user_id": "a", "kind": "voice"}])
    assert snap.started_count == 1
    gone = await aclient.presence_changes("src", leaves=[{"user_id": "a", "kind": "voice"}])
    assert gone.ended_count == 1
