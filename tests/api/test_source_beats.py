"""A presence snapshot is one heartbeat of its source: the sessions it keeps listing are not
rewritten, yet every read and every rule sees the snapshot's time as their last beat, and each
keeps the timeout and grace of its own kind when the source falls silent."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from sessionkeeper.storage.tables import sessions as t
from tests.support import Harness, ms

GAME = {"heartbeat_interval_s": 10, "timeout_s": 30, "grace_s": 5}
VOICE = {"heartbeat_interval_s": 10, "timeout_s": 120, "grace_s": 5}
BOTH = [{"user_id": "a", "kind": "game"}, {"user_id": "b", "kind": "voice"}]


async def _policies(api: Harness) -> None:
    assert (await api.put("/v1/policies/game", GAME)).status_code == 200
    assert (await api.put("/v1/policies/voice", VOICE)).status_code == 200


async def _snapshot(api: Harness, entries: list[dict[str, str]]) -> int:
    answer = await api.put("/v1/presence/bot", entries)
    assert answer.status_code == 200, answer.text
    return ms(answer.json()["at"])


async def _by_user(api: Harness) -> dict[str, dict[str, Any]]:
    items = (await api.get("/v1/sessions", source="bot", limit=50)).json()["items"]
    return {item["user_id"]: item for item in items}


async def _stored_last_seen(api: Harness) -> set[int]:
    """The column as written in the rows, not as read through the source."""

    def read(conn: sa.Connection) -> set[int]:
        return set(conn.execute(sa.select(t.c.last_seen_at).where(t.c.source == "bot")).scalars())

    stored: set[int] = await api.runtime.db.reader.run(read)
    return stored


async def test_reads_show_the_snapshot_as_each_sessions_last_beat(api_any: Harness) -> None:
    api = api_any
    await _policies(api)
    started = await _snapshot(api, BOTH)
    api.advance(20)
    beat = await _snapshot(api, BOTH)
    sessions = await _by_user(api)
    assert {s["status"] for s in sessions.values()} == {"active"}
    assert [ms(sessions[u]["last_seen_at"]) for u in "ab"] == [beat, beat]
    one = (await api.get(f"/v1/sessions/{sessions['a']['id']}")).json()
    assert ms(one["last_seen_at"]) == beat
    # The snapshot wrote the source's row, not the sessions'.
    assert await _stored_last_seen(api) == {started}
    # Past the sessions' own deadline (started + 30 s) they are alive through the source.
    api.advance(15)
    assert (await api.post("/v1/maintenance/sweep")).json()["closed"] == 0
    live = (await api.get("/v1/sessions", source="bot", status="active")).json()["items"]
    assert len(live) == 2


async def test_a_silent_source_closes_each_session_by_its_own_policy(api_any: Harness) -> None:
    api = api_any
    await _policies(api)
    await _snapshot(api, BOTH)
    api.advance(20)
    beat = await _snapshot(api, BOTH)
    api.advance(31)  # past the game's timeout after the beat, not the voice's
    assert (await api.post("/v1/maintenance/sweep")).json()["closed"] == 1
    sessions = await _by_user(api)
    game, voice = sessions["a"], sessions["b"]
    assert (game["status"], game["end_reason"]) == ("timed_out", "timeout")
    assert ms(game["ended_at"]) == beat + 5_000  # the grace after the source's last beat
    assert ms(game["last_seen_at"]) == beat
    assert voice["status"] == "active" and ms(voice["last_seen_at"]) == beat
    api.advance(90)
    assert (await api.post("/v1/maintenance/sweep")).json()["closed"] == 1
    voice = (await _by_user(api))["b"]
    assert voice["status"] == "timed_out" and ms(voice["ended_at"]) == beat + 5_000
    # Closed rows hold their final columns themselves.
    assert await _stored_last_seen(api) == {beat}


async def test_a_session_left_out_ends_at_the_snapshot_with_its_last_beat(
    api_any: Harness,
) -> None:
    api = api_any
    await _policies(api)
    await _snapshot(api, BOTH)
    api.advance(20)
    beat = await _snapshot(api, BOTH)
    api.advance(20)
    left_at = await _snapshot(api, BOTH[1:])
    game = (await _by_user(api))["a"]
    assert (game["status"], game["end_reason"]) == ("ended", "presence_lost")
    assert ms(game["ended_at"]) == left_at
    assert ms(game["last_seen_at"]) == beat  # not listed at left_at: last seen before
    assert ms((await _by_user(api))["b"]["last_seen_at"]) == left_at


async def test_own_heartbeats_and_the_sources_beats_extend_one_another(
    api_any: Harness,
) -> None:
    api = api_any
    await _policies(api)
    await _snapshot(api, BOTH)
    for _ in range(2):  # the row's own deadline (start + 30 s) passes meanwhile
        api.advance(20)
        await _snapshot(api, BOTH)
    game_id = (await _by_user(api))["a"]["id"]
    api.advance(25)
    beat = await api.post(f"/v1/sessions/{game_id}/heartbeat", {})
    assert beat.status_code == 200, beat.text
    own = api.clock.now_ms()
    assert ms((await api.get(f"/v1/sessions/{game_id}")).json()["last_seen_at"]) == own
    api.advance(20)
    later = await _snapshot(api, BOTH)
    assert ms((await _by_user(api))["a"]["last_seen_at"]) == later
    api.advance(29)
    assert (await api.post("/v1/maintenance/sweep")).json()["closed"] == 0
    api.advance(2)
    assert (await api.post("/v1/maintenance/sweep")).json()["closed"] == 1
    assert ms((await _by_user(api))["a"]["ended_at"]) == later + 5_000


async def test_a_new_timeout_counts_from_the_sources_next_beat(api_any: Harness) -> None:
    api = api_any
    long = {"heartbeat_interval_s": 10, "timeout_s": 120, "grace_s": 5}
    assert (await api.put("/v1/policies/game", long)).status_code == 200
    await _snapshot(api, BOTH[:1])
    api.advance(5)
    assert (await api.put("/v1/policies/game", GAME)).status_code == 200  # 30 s from now on
    api.advance(5)
    beat = await _snapshot(api, BOTH[:1])
    api.advance(30)
    listed = (await api.get("/v1/sessions", source="bot", status="active")).json()["items"]
    assert len(listed) == 1  # a timeout after the beat: still alive at its very deadline
    api.advance(1)
    assert (await api.get("/v1/sessions", source="bot", status="active")).json()["items"] == []
    assert (await api.post("/v1/maintenance/sweep")).json()["closed"] == 1
    game = (await _by_user(api))["a"]
    assert game["status"] == "timed_out" and ms(game["ended_at"]) == beat + 5_000


async def test_a_downgrade_writes_the_sources_beat_into_its_sessions(api_any: Harness) -> None:
    """Going back to the schema before source beats loses no beat: the newest one is written
    into each session it covered."""
    from sessionkeeper.storage.migrate import downgrade

    api = api_any
    await _policies(api)
    await _snapshot(api, BOTH)
    api.advance(20)
    beat = await _snapshot(api, BOTH)
    expected = {
        u: (ms(s["last_seen_at"]), ms(s["expires_at"])) for u, s in (await _by_user(api)).items()
    }
    assert {seen for seen, _ in expected.values()} == {beat}
    await api.runtime.db.writer.run(lambda tx: None)  # the writer is idle
    downgrade(api.runtime.db.write_engine, "dashboard_0001")

    def stored(conn: sa.Connection) -> dict[str, tuple[int, int]]:
        rows = conn.execute(
            sa.text("SELECT user_id, last_seen_at, expires_at FROM sessions WHERE source = 'bot'")
        )
        return {user: (seen, expires) for user, seen, expires in rows}

    assert await api.runtime.db.reader.run(stored) == expected


async def test_a_presence_source_cannot_take_a_name_a_feature_gives_its_sessions(
    api: Harness,
) -> None:
    """Tracking links start sessions with source "link", the browser tracker with "browser": a
    presence source of that name would own them and end them all as lost presence."""
    for name in ("link", "browser"):
        for call in (
            api.put(f"/v1/presence/{name}", BOTH),
            api.put(f"/v1/presence/{name}?dry_run=true", BOTH),
            api.post(f"/v1/presence/{name}/changes", {"joins": BOTH}),
        ):
            answer = await call
            assert answer.status_code == 422, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"] == "source_taken"
    assert (await api.get("/v1/sessions", limit=5)).json()["items"] == []
    assert (await api.put("/v1/presence/links", BOTH)).status_code == 200


async def test_a_dry_run_counts_the_overdue_sessions_the_snapshot_would_close(
    api_any: Harness,
) -> None:
    """A source's session is overdue (the sweep has not come) and the next snapshot lists
    its user again: the snapshot closes it by timeout and starts anew, and its dry run says
    so, count for count."""
    api = api_any
    await api.put("/v1/policies/voice", {"heartbeat_interval_s": 1, "timeout_s": 2, "grace_s": 1})
    body = [{"user_id": "a", "kind": "voice"}, {"user_id": "b", "kind": "voice"}]
    assert (await api.put("/v1/presence/bot", body)).status_code == 200
    api.advance(3.5)
    counts = ("started_count", "refreshed_count", "ended_count", "timed_out_count")
    dry = (await api.put("/v1/presence/bot?dry_run=true&reply=summary", body[:1])).json()
    real = (await api.put("/v1/presence/bot?reply=summary", body[:1])).json()
    assert [dry[n] for n in counts] == [real[n] for n in counts]
    assert real["timed_out_count"] == 2 and real["started_count"] == 1
