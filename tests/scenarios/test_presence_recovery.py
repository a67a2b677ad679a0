"""Presence sources under faults: tracker outages, repeats, dry runs, switches and restarts.

Each test runs on SQLite and PostgreSQL. The tracker reports every 60 s with a 300 s timeout and
a 30 s grace (``presence_support.POLICY``); the sweep is called explicitly, every 15 s of
scripted time where an outage is played.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.scenarios.presence_support import (
    GRACE_MS,
    SWEEP_EVERY_S,
    TIMEOUT_MS,
    active_by_key,
    all_sessions,
    ended_ms,
    entry,
    key_of,
    last_seen_ms,
    leave,
    post_changes,
    put_snapshot,
    set_policies,
    started_ms,
    sweep,
)
from tests.support import T0, Harness, running_app

CREW = [
    entry("ana", "game", "Minecraft"),
    entry("ben", "voice", "General"),
    entry("cid", "spotify", track="Around the World"),
    entry("ben", "streaming", "General"),
]


def started_by_key(result: dict[str, Any]) -> dict[Any, str]:
    """The ids a snapshot or change set started, by (user, kind, label)."""
    return {
        key_of(ref): session_id
        for ref, session_id in zip(result["to_start"], result["started"], strict=True)
    }


async def sweep_through(h: Harness, seconds: int) -> list[int]:
    """Advance the clock ``seconds`` in sweep steps, sweeping at each; the counts closed."""
    closed = []
    for _ in range(seconds // SWEEP_EVERY_S):
        h.advance(SWEEP_EVERY_S)
        closed.append(await sweep(h))
    return closed


@pytest.mark.parametrize("gap_s", [180, 255])
async def test_tracker_back_within_timeout_continues_the_same_sessions(
    api_any: Harness, gap_s: int
) -> None:
    h = api_any
    await set_policies(h)
    first = await put_snapshot(h, CREW, T0)
    ids = started_by_key(first)
    assert len(ids) == 4
    h.advance(60)
    await put_snapshot(h, CREW, T0 + 60_000)

    # The tracker is down: no snapshot for gap_s (two or more missed), still within the timeout.
    assert await sweep_through(h, gap_s) == [0] * (gap_s // SWEEP_EVERY_S)
    back_at = h.clock.now_ms()
    assert back_at - (T0 + 60_000) <= TIMEOUT_MS
    back = await put_snapshot(h, CREW, back_at)

    assert (back["started_count"], back["ended_count"], back["timed_out_count"]) == (0, 0, 0)
    assert {key_of(ref): ref["session_id"] for ref in back["to_refresh"]} == ids
    active = await active_by_key(h)
    assert {key: item["id"] for key, item in active.items()} == ids
    for item in active.values():
        assert started_ms(item) == T0 and last_seen_ms(item) == back_at
    assert len(await all_sessions(h)) == 4  # nothing ended, nothing restarted


async def test_tracker_back_exactly_at_the_timeout_still_continues(api_any: Harness) -> None:
    h = api_any
    await set_policies(h)
    ids = started_by_key(await put_snapshot(h, CREW, T0))
    assert await sweep_through(h, 300) == [0] * 20  # the last sweep runs at expires_at itself
    back = await put_snapshot(h, CREW, T0 + TIMEOUT_MS)
    assert back["started_count"] == 0 and back["refreshed_count"] == 4
    assert {k: v["id"] for k, v in (await active_by_key(h)).items()} == ids


@pytest.mark.parametrize("swept_meanwhile", [True, False], ids=["swept", "unswept"])
async def test_tracker_outage_longer_than_timeout_closes_at_estimate_then_starts_fresh(
    api_any: Harness, swept_meanwhile: bool
) -> None:
    h = api_any
    await set_policies(h)
    old = started_by_key(await put_snapshot(h, CREW, T0))
    h.advance(60)
    last_seen = T0 + 60_000
    await put_snapshot(h, CREW, last_seen)

    outage_s = 540
    if swept_meanwhile:
        closed = await sweep_through(h, outage_s)
        # The first sweep after expires_at (= last_seen + 300 s) closes all four, once.
        first_closing = (TIMEOUT_MS // 1000) // SWEEP_EVERY_S
        assert closed[first_closing] == 4 and sum(closed) == 4
    else:
        h.advance(outage_s)
    back_at = h.clock.now_ms()
    back = await put_snapshot(h, CREW, back_at)

    assert back["started_count"] == 4 and back["refreshed_count"] == 0
    assert back["ended_count"] == 0  # not presence_lost: the old ones timed out
    assert back["timed_out_count"] == (0 if swept_meanwhile else 4)
    new = started_by_key(back)
    assert set(new) == set(old) and not set(new.values()) & set(old.values())

    by_id = {item["id"]: item for item in await all_sessions(h)}
    assert len(by_id) == 8
    for session_id in old.values():
        item = by_id[session_id]
        assert item["status"] == "timed_out" and item["end_reason"] == "timeout"
        assert item["estimated"] is True
        assert ended_ms(item) == last_seen + GRACE_MS
        assert item["duration_s"] == 90.0  # 60 s seen + 30 s grace, not the 600 s gap
    for session_id in new.values():
        item = by_id[session_id]
        assert item["status"] == "active" and started_ms(item) == back_at


async def test_dry_run_returns_the_diff_and_changes_nothing(api_any: Harness) -> None:
    h = api_any
    await set_policies(h)
    ids = started_by_key(
        await put_snapshot(h, [entry("ana", "game", "Minecraft"), entry("ben", "voice", "AFK")], T0)
    )
    h.advance(60)
    before = await all_sessions(h)
    wanted = [entry("ana", "game", "Minecraft"), entry("dee", "spotify")]

    dry = await put_snapshot(h, wanted, h.clock.now_ms(), dry_run=True)
    assert dry["dry_run"] is True and dry["started"] == []
    assert [key_of(r) for r in dry["to_start"]] == [("dee", "spotify", None)]
    assert [r["session_id"] for r in dry["to_refresh"]] == [ids[("ana", "game", "Minecraft")]]
    assert [r["session_id"] for r in dry["to_end"]] == [ids[("ben", "voice", "AFK")]]
    assert (dry["started_count"], dry["refreshed_count"], dry["ended_count"]) == (1, 1, 1)

    dry_changes = await post_changes(
        h,
        joins=[entry("eve", "voice", "Gaming")],
        leaves=[leave("ana", "game", "Minecraft")],
        dry_run=True,
    )
    assert dry_changes["dry_run"] is True and dry_changes["started"] == []
    assert [key_of(r) for r in dry_changes["to_start"]] == [("eve", "voice", "Gaming")]
    assert [r["session_id"] for r in dry_changes["to_end"]] == [ids[("ana", "game", "Minecraft")]]
    assert await all_sessions(h) == before

    real = await put_snapshot(h, wanted, h.clock.now_ms())
    assert real["dry_run"] is False
    for part in ("to_start", "to_refresh", "to_end"):
        assert real[part] == dry[part]


async def test_the_same_snapshot_twice_changes_nothing_the_second_time(api_any: Harness) -> None:
    h = api_any
    await set_policies(h)
    await put_snapshot(h, CREW, T0)
    h.advance(60)
    later = [*CREW[:2], entry("dee", "game", "Factorio")]
    at = h.clock.now_ms()
    once = await put_snapshot(h, later, at)
    assert (once["started_count"], once["ended_count"]) == (1, 2)
    after_once = await all_sessions(h)

    h.advance(3)  # the tracker retries: same body, same "at"
    twice = await put_snapshot(h, later, at)
    assert (twice["started_count"], twice["ended_count"], twice["timed_out_count"]) == (0, 0, 0)
    assert twice["started"] == [] and twice["refreshed_count"] == 3
    assert await all_sessions(h) == after_once

    # The list form (server time) repeated at the same instant is a no-op as well.
    h.clock.set(at)
    assert (await put_snapshot(h, later, bare=True))["started"] == []
    assert await all_sessions(h) == after_once


async def test_user_switching_game_is_one_exact_end_and_one_start(api_any: Harness) -> None:
    h = api_any
    await set_policies(h)
    await put_snapshot(h, [entry("ana", "game", "Minecraft"), entry("ben", "voice", "General")], T0)
    h.advance(60)
    await put_snapshot(h, [entry("ana", "game", "Minecraft"), entry("ben", "voice", "General")])
    h.advance(60)
    switch_at = h.clock.now_ms()
    result = await put_snapshot(
        h, [entry("ana", "game", "Valorant"), entry("ben", "voice", "General")], switch_at
    )
    assert [key_of(r) for r in result["to_start"]] == [("ana", "game", "Valorant")]
    assert [key_of(r) for r in result["to_end"]] == [("ana", "game", "Minecraft")]
    assert result["refreshed_count"] == 1

    ana = {item["label"]: item for item in await all_sessions(h, user_id="ana")}
    assert set(ana) == {"Minecraft", "Valorant"}
    old, new = ana["Minecraft"], ana["Valorant"]
    assert old["status"] == "ended" and old["end_reason"] == "presence_lost"
    assert old["estimated"] is False
    assert ended_ms(old) == switch_at and old["duration_s"] == 120.0
    assert new["status"] == "active" and started_ms(new) == switch_at
    assert new["id"] == result["started"][0]


async def test_changes_join_and_leave_exactly_and_match_like_snapshots(
    api_any: Harness,
) -> None:
    h = api_any
    await set_policies(h)
    joined = await post_changes(
        h, joins=[entry("ana", "voice", "General"), entry("cid", "spotify")]
    )
    assert joined["started_count"] == 2
    ids = started_by_key(joined)

    h.advance(20)
    again = await post_changes(h, joins=[entry("ana", "voice", "General")])
    assert (again["started_count"], again["refreshed_count"]) == (0, 1)

    h.advance(10)
    # A label only matches the same label: spotify was joined without one.
    miss = await post_changes(h, leaves=[leave("cid", "spotify", "Around the World")])
    assert miss["ended_count"] == 0
    left = await post_changes(h, leaves=[leave("cid", "spotify")])
    assert [r["session_id"] for r in left["to_end"]] == [ids[("cid", "spotify", None)]]

    # A key that both joins and leaves in one change set leaves: nothing starts.
    both = await post_changes(
        h, joins=[entry("dee", "game", "Dota 2")], leaves=[leave("dee", "game", "Dota 2")]
    )
    assert both["started_count"] == 0 and both["ended_count"] == 0

    h.advance(100)
    alive = await post_changes(h, keepalive=True)
    assert alive["refreshed_count"] == 1 and alive["started_count"] == 0

    h.advance(50)
    switch_at = h.clock.now_ms() - 5_000  # reported with the time the event happened
    switch = await post_changes(
        h,
        joins=[entry("ana", "voice", "Gaming")],
        leaves=[leave("ana", "voice", "General")],
        at=switch_at,
    )
    assert switch["started_count"] == 1 and switch["ended_count"] == 1

    by_key = {key_of(item): item for item in await all_sessions(h)}
    general = by_key[("ana", "voice", "General")]
    assert general["status"] == "ended" and general["end_reason"] == "presence_lost"
    assert started_ms(general) == T0 and ended_ms(general) == switch_at
    assert last_seen_ms(general) == T0 + 130_000  # the keepalive
    spotify = by_key[("cid", "spotify", None)]
    assert ended_ms(spotify) == T0 + 30_000 and spotify["estimated"] is False
    assert started_ms(by_key[("ana", "voice", "Gaming")]) == switch_at
    assert ("dee", "game", "Dota 2") not in by_key

    # A full snapshot afterwards agrees with what the changes built.
    snap = await put_snapshot(h, [entry("ana", "voice", "Gaming")])
    assert (snap["started_count"], snap["refreshed_count"], snap["ended_count"]) == (0, 1, 0)


async def test_sessionkeeper_restart_keeps_sessions_and_closes_expired_at_their_estimate(
    db_url: str,
) -> None:
    clock_start = T0
    async with running_app(db_url) as h:
        await set_policies(h)
        ids = started_by_key(await put_snapshot(h, CREW, clock_start))
        crash = await h.post(
            "/v1/sessions",
            {"id": "launcher-1", "user_id": "fay", "kind": "app", "label": "Launcher"},
            scope="ingest",
        )
        assert crash.status_code == 201
        h.advance(60)
        await h.post("/v1/sessions/launcher-1/heartbeat", {}, scope="ingest")
        client_last_seen = h.clock.now_ms()  # the client app dies here without a word
        h.advance(60)
        await put_snapshot(h, CREW)
        stopped_at = h.clock.now_ms()
        h.advance(5)

    # sessionkeeper is down for 4 minutes: the client app's session expires meanwhile.
    clock = h.clock
    clock.advance(240)
    restarted_at = clock.now_ms()
    async with running_app(db_url, clock) as h:
        # sessionkeeper's own downtime is nobody's silence: nothing closes at the restart.
        assert await sweep(h) == 0

        # The presence sessions were refreshed at stopped_at: 245 s ago, still alive.
        active = await active_by_key(h, source="discord-bot")
        assert {key: item["id"] for key, item in active.items()} == ids
        h.advance(10)
        back = await put_snapshot(h, CREW)
        assert back["started_count"] == 0 and back["refreshed_count"] == 4
        assert all(item["ended_at"] is None for item in await all_sessions(h, source="discord-bot"))

        # The client app never comes back: once its deadline (a full timeout from the
        # restart) has passed, it times out at its estimate all the same.
        h.advance(295)
        assert await sweep(h) == 1
        launcher = (await h.get("/v1/sessions/launcher-1", scope="read")).json()
        assert launcher["status"] == "timed_out" and launcher["estimated"] is True
        assert ended_ms(launcher) == client_last_seen + GRACE_MS
        assert ended_ms(launcher) not in (stopped_at, restarted_at)


async def test_a_late_retry_of_an_older_snapshot_changes_nothing(api_any: Harness) -> None:
    """A tracker retrying a snapshot whose answer it lost, after a newer one was applied.

    The older snapshot must neither end what the newer one started (with zero duration) nor
    reopen what it ended: like a heartbeat older than ``last_seen_at``, it changes nothing.
    """
    h = api_any
    await set_policies(h)
    older = [entry("ana", "game", "Minecraft")]
    await put_snapshot(h, older, T0)
    h.advance(60)
    await put_snapshot(h, [entry("ana", "game", "Valorant")], T0 + 60_000)
    before = await all_sessions(h)

    h.advance(5)
    retry = await put_snapshot(h, older, T0)

    assert (retry["started_count"], retry["ended_count"]) == (0, 0), retry
    assert await all_sessions(h) == before
    active = await active_by_key(h)
    assert list(active) == [("ana", "game", "Valorant")]
