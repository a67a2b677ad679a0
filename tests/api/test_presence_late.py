"""Presence snapshots kept by a reporter while the server was unreachable and delivered after
the timeout are late evidence, as late heartbeats are: the source's sessions that were alive
at a snapshot's time are carried on or ended exactly at that time, amended, whether the sweep
closed them first or not. On both databases."""

from __future__ import annotations

from typing import Any

from sessionkeeper.storage.migrate import downgrade
from tests.support import Harness, iso, ms

POLICY = {"heartbeat_interval_s": 10, "timeout_s": 20, "grace_s": 5}


async def deliver(api: Harness, source: str, entries: list[dict[str, Any]], at: int) -> None:
    answer = await api.put(f"/v1/presence/{source}", {"entries": entries, "at": iso(at)})
    assert answer.status_code == 200, answer.text


async def sessions_of(api: Harness, source: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.get("/v1/sessions", source=source)).json()["items"]
    return list(reversed(items))  # oldest first


def span(session: dict[str, Any], t0: int) -> tuple[Any, ...]:
    return (
        session["user_id"],
        (ms(session["started_at"]) - t0) / 1000,
        (ms(session["ended_at"]) - t0) / 1000 if session["ended_at"] else None,
        session["status"],
        session["end_reason"],
        session["estimated"],
        session["amended_count"],
    )


async def test_snapshots_kept_through_an_outage_make_one_session(api_any: Harness) -> None:
    api = api_any
    assert (await api.put("/v1/policies/pz", POLICY)).status_code == 200
    a = [{"user_id": "a", "kind": "pz", "label": "L"}]
    views = {}
    for source in ("swept", "unswept"):
        t0 = api.clock.now_ms()
        await deliver(api, source, a, t0)
        api.advance(100)  # the reporter kept the next snapshot through an outage
        if source == "swept":
            await api.post("/v1/maintenance/sweep", {})
        await deliver(api, source, a, t0 + 15_000)
        views[source] = [span(s, t0) for s in await sessions_of(api, source)]
        t0 = api.clock.now_ms()
    # As a start and a heartbeat at 15 s delivered now: one session, to 15 s + grace.
    assert views["swept"] == [("a", 0.0, 20.0, "timed_out", "timeout", True, 1)]
    assert views["unswept"] == views["swept"]


async def test_a_late_snapshot_without_someone_ends_them_exactly(api_any: Harness) -> None:
    api = api_any
    assert (await api.put("/v1/policies/pz", POLICY)).status_code == 200
    views = {}
    for source in ("swept", "unswept"):
        t0 = api.clock.now_ms()
        await deliver(api, source, [{"user_id": "a", "kind": "pz"}], t0)
        api.advance(100)
        if source == "swept":
            await api.post("/v1/maintenance/sweep", {})
        await deliver(api, source, [{"user_id": "b", "kind": "pz"}], t0 + 5_000)
        found = await sessions_of(api, source)
        views[source] = [span(s, t0) for s in found]
        first = found[0]
        assert first["duration_bounds_s"] == [0.0, 5.0], first
    assert views["swept"][0] == ("a", 0.0, 5.0, "ended", "presence_lost", False, 1)
    assert views["swept"][1][:3] == ("b", 5.0, 10.0)  # 5 s + grace: silent since
    assert views["unswept"] == views["swept"]


async def test_a_snapshot_after_the_deadline_still_starts_anew(api_any: Harness) -> None:
    api = api_any
    assert (await api.put("/v1/policies/pz", POLICY)).status_code == 200
    a = [{"user_id": "a", "kind": "pz"}]
    t0 = api.clock.now_ms()
    await deliver(api, "late", a, t0)
    api.advance(100)
    await api.post("/v1/maintenance/sweep", {})
    await deliver(api, "late", a, t0 + 30_000)  # past the 20 s deadline: a real gap
    views = [span(s, t0) for s in await sessions_of(api, "late")]
    assert views == [
        ("a", 0.0, 5.0, "timed_out", "timeout", True, 0),
        ("a", 30.0, 35.0, "timed_out", "timeout", True, 0),
    ]


async def test_a_snapshot_made_before_an_end_but_delivered_after_starts_nothing(
    api_any: Harness,
) -> None:
    """The end already covers the snapshot's time: listing the person again is no second
    session over the same seconds."""
    api = api_any
    assert (await api.put("/v1/policies/pz", POLICY)).status_code == 200
    a = [{"user_id": "a", "kind": "pz"}]
    t0 = api.clock.now_ms()
    await deliver(api, "ended", a, t0)
    [first] = await sessions_of(api, "ended")
    api.advance(13)
    ended = await api.post(f"/v1/sessions/{first['id']}/end", {"at": iso(t0 + 12_000)})
    assert ended.status_code == 200, ended.text
    await deliver(api, "ended", a, t0 + 10_000)
    views = [span(s, t0) for s in await sessions_of(api, "ended")]
    assert views == [("a", 0.0, 12.0, "ended", "client", False, 0)]


async def test_a_late_snapshot_finds_a_session_swept_under_a_timeout_lowered_since(
    api_any: Harness,
) -> None:
    """The sweep closed the session by the 900 s timeout of its last beat; the kind's timeout
    was lowered to 20 s since. A snapshot of 600 s, when it was alive, still carries it on:
    the search for swept sessions looks back by the longest timeout the kind's policy has
    had, not only the current one."""
    api = api_any
    long = {"heartbeat_interval_s": 10, "timeout_s": 900, "grace_s": 5}
    views = {}
    for source in ("swept", "unswept"):
        assert (await api.put("/v1/policies/pz", long)).status_code == 200
        t0 = api.clock.now_ms()
        await deliver(api, source, [{"user_id": "a", "kind": "pz"}], t0)
        assert (await api.put("/v1/policies/pz", POLICY)).status_code == 200
        api.advance(1000)
        if source == "swept":
            await api.post("/v1/maintenance/sweep", {})
        await deliver(api, source, [{"user_id": "a", "kind": "pz"}], t0 + 600_000)
        views[source] = [span(s, t0) for s in await sessions_of(api, source)]
    # One session, beaten at 600 s by the new timeout: to 600 s + grace.
    assert views["swept"] == [("a", 0.0, 605.0, "timed_out", "timeout", True, 1)]
    assert views["unswept"] == views["swept"]


async def test_the_migration_starts_from_the_longest_timeout_a_session_was_given(
    api_any: Harness,
) -> None:
    """Migration 0016: policies written before it kept no record of the timeouts they had;
    it takes the longest one a session of the tenant was given, so a late snapshot finds a
    session swept under a timeout lowered before the upgrade."""
    api = api_any
    await api.put("/v1/policies/pz", {"heartbeat_interval_s": 10, "timeout_s": 900, "grace_s": 5})
    t0 = api.clock.now_ms()
    await deliver(api, "bot", [{"user_id": "a", "kind": "pz"}], t0)
    await api.put("/v1/policies/pz", POLICY)
    downgrade(api.runtime.db.write_engine, "rooms_0002")  # as it stood before the migration
    assert api.runtime.db.migrate()[-1] == "0016"
    api.advance(1000)
    await api.post("/v1/maintenance/sweep", {})
    await deliver(api, "bot", [{"user_id": "a", "kind": "pz"}], t0 + 600_000)
    assert [span(s, t0) for s in await sessions_of(api, "bot")] == [
        ("a", 0.0, 605.0, "timed_out", "timeout", True, 1)
    ]
