"""Late evidence and continuations through the API, on SQLite and PostgreSQL.

Policy for these tests: heartbeats every 2 s, timeout 6 s, grace 1 s.
"""

from __future__ import annotations

import pytest

from tests.support import T0, Harness, iso, ms


@pytest.fixture
async def api6(api_any: Harness) -> Harness:
    answer = await api_any.put(
        "/v1/policies/*", {"heartbeat_interval_s": 2, "timeout_s": 6, "grace_s": 1}
    )
    assert answer.status_code == 200
    return api_any


async def _start(api: Harness, sid: str, user: str = "u") -> None:
    answer = await api.post("/v1/sessions", {"id": sid, "user_id": user, "kind": "app"})
    assert answer.status_code == 201


async def _swept(api: Harness, *ids: str) -> None:
    """The sessions timed out meanwhile and the sweep closed them."""
    await api.post("/v1/maintenance/sweep")
    for sid in ids:
        assert (await api.get(f"/v1/sessions/{sid}")).json()["status"] == "timed_out"


async def test_a_beat_made_in_time_reopens_a_session_the_sweep_closed(api6: Harness) -> None:
    await _start(api6, "s")
    api6.advance(10)  # partitioned: the beats at +2 s and +4 s could not be delivered
    await _swept(api6, "s")
    beat = await api6.post("/v1/sessions/s/heartbeat", {"at": iso(T0 + 4_000)})
    assert beat.status_code == 200
    body = beat.json()
    # last seen at +4 s, deadline +10 s: now is +10 s, so it is open again
    assert body["status"] == "active" and body["ended_at"] is None
    assert body["last_seen_at"] == iso(T0 + 4_000).replace("+00:00", "Z")
    assert (body["amended_count"], body["amended_at"] is not None) == (1, True)
    metrics = (await api6.client.get("/metrics")).text
    assert 'sessionkeeper_sessions_amended_total{kind="app"} 1.0' in metrics


async def test_a_beat_after_a_real_gap_gets_409(api6: Harness) -> None:
    await _start(api6, "s")
    api6.advance(10)
    await _swept(api6, "s")
    late = await api6.post("/v1/sessions/s/heartbeat", {"at": iso(T0 + 6_001)})
    assert late.status_code == 409
    assert late.json()["session"]["ended_at"] == iso(T0 + 1_000).replace("+00:00", "Z")
    assert (await api6.post("/v1/sessions/s/heartbeat", {})).status_code == 409


async def test_the_same_beats_get_the_same_outcome_through_either_endpoint(api6: Harness) -> None:
    await _start(api6, "single")
    await _start(api6, "batched")
    api6.advance(30)  # beats every 2 s for 20 s were buffered; the client died at +20 s
    await _swept(api6, "single", "batched")
    ats = [T0 + 2_000 * i for i in range(1, 11)]
    singles = [
        (await api6.post("/v1/sessions/single/heartbeat", {"at": iso(at)})).status_code
        for at in ats
    ]
    batch = await api6.post(
        "/v1/heartbeats",
        {"heartbeats": [{"session_id": "batched", "at": iso(at)} for at in reversed(ats)]},
    )
    assert singles == [200] * 10
    assert [r["outcome"] for r in batch.json()["results"]] == ["ok"] * 10
    one = (await api6.get("/v1/sessions/single")).json()
    other = (await api6.get("/v1/sessions/batched")).json()
    for session in (one, other):  # closed again at the last beat + grace, estimated
        assert session["status"] == "timed_out"
        assert session["ended_at"] == iso(T0 + 21_000).replace("+00:00", "Z")
        assert session["estimated"] is True


async def test_a_batch_with_a_gap_counts_the_beats_before_it_only(api6: Harness) -> None:
    await _start(api6, "s")
    api6.advance(40)
    at = [T0 + 2_000, T0 + 4_000, T0 + 30_000, T0 + 32_000]
    batch = await api6.post(
        "/v1/heartbeats", {"heartbeats": [{"session_id": "s", "at": iso(a)} for a in at]}
    )
    results = batch.json()["results"]
    assert [r["outcome"] for r in results] == ["ok", "ok", "closed", "closed"]
    assert {r["status"] for r in results} == {"timed_out"}
    session = (await api6.get("/v1/sessions/s")).json()
    assert session["ended_at"] == iso(T0 + 5_000).replace("+00:00", "Z")


async def test_an_end_made_in_time_but_delivered_late_is_exact(api6: Harness) -> None:
    await _start(api6, "s")
    api6.advance(20)
    await _swept(api6, "s")
    ended = await api6.post("/v1/sessions/s/end", {"at": iso(T0 + 5_500)})
    assert ended.status_code == 200
    body = ended.json()
    assert (body["status"], body["estimated"], body["amended_count"]) == ("ended", False, 1)
    assert body["ended_at"] == iso(T0 + 5_500).replace("+00:00", "Z")
    # an end made after the deadline is no evidence: the estimate stays
    await _start(api6, "t")
    api6.advance(20)
    await _swept(api6, "t")
    late = (await api6.post("/v1/sessions/t/end", {"at": iso(api6.clock.now_ms())})).json()
    assert (late["status"], late["amended_count"]) == ("timed_out", 0)


async def test_a_continuation_names_the_session_it_continues(api6: Harness) -> None:
    await _start(api6, "first")
    api6.advance(20)
    await _swept(api6, "first")
    second = await api6.post(
        "/v1/sessions", {"id": "second", "user_id": "u", "kind": "app", "continues": "first"}
    )
    assert second.status_code == 201 and second.json()["continues"] == "first"
    listed = (await api6.get("/v1/sessions", continues="first")).json()["items"]
    assert [s["id"] for s in listed] == ["second"]
    unknown = await api6.post("/v1/sessions", {"user_id": "u", "kind": "app", "continues": "nope"})
    assert (unknown.status_code, unknown.json()["field"]) == (422, "continues")
    await _start(api6, "theirs", user="v")
    foreign = await api6.post(
        "/v1/sessions", {"user_id": "u", "kind": "app", "continues": "theirs"}
    )
    assert (foreign.status_code, foreign.json()["field"]) == (422, "continues")
    # A continuation follows what it continues: not one that began before it.
    before = {"user_id": "u", "kind": "app", "continues": "second"}
    before["started_at"] = iso(ms(second.json()["started_at"]) - 1)
    early = await api6.post("/v1/sessions", before)
    assert (early.status_code, early.json()["field"]) == (422, "continues"), early.text
