"""A write that finds a session overdue treats it as the sweep would have closed it: reads
already showed it timed out, so what a late write makes of it must not depend on whether the
sweep ran first. Each test runs the same story twice, swept before the write and not, and
compares what every read shows. On both databases."""

from __future__ import annotations

from typing import Any

from tests.support import Harness, iso, ms

POLICY = {"heartbeat_interval_s": 2, "timeout_s": 4, "grace_s": 1}
# What a read shows of a session, less what differs by construction (ids, times of the run).
SHOWN = ("status", "end_reason", "estimated", "duration_s", "amended_count")


def shown(session: dict[str, Any], started: int) -> dict[str, Any]:
    view = {field: session[field] for field in SHOWN}
    view["started_after_s"] = (ms(session["started_at"]) - started) / 1000
    return view


async def test_a_late_snapshot_made_before_the_deadline_amends_swept_or_not(
    api_any: Harness,
) -> None:
    """A snapshot made before a session's deadline but sent after it is late evidence, as a
    late heartbeat is: it carries the session on from its time and counts as an amendment,
    whether the sweep had closed the session first or not."""
    api = api_any
    assert (await api.put("/v1/policies/pk", POLICY)).status_code == 200
    entry = [{"user_id": "p", "kind": "pk"}]
    views = {}
    for source in ("swept", "unswept"):
        t0 = api.clock.now_ms()
        assert (await api.put(f"/v1/presence/{source}", entry)).status_code == 200
        api.advance(5)
        if source == "swept":
            await api.post("/v1/maintenance/sweep", {})
        late = {"entries": entry, "at": iso(t0 + 3_000)}
        answer = await api.put(f"/v1/presence/{source}", late)
        assert answer.status_code == 200, answer.text
        items = (await api.get("/v1/sessions", source=source)).json()["items"]
        views[source] = [shown(item, t0) for item in reversed(items)]  # oldest first
    # Made at 3 s, within the 4 s deadline: alive until 7 s, so open again at 5 s.
    assert [(view["status"], view["amended_count"]) for view in views["swept"]] == [("active", 1)]
    assert views["unswept"] == views["swept"]


async def test_an_event_never_revives_a_session_that_read_as_timed_out(api_any: Harness) -> None:
    """An event is a heartbeat of an open session only: one overdue by the time the event is
    stored already read as closed, and stays closed whether the sweep came first or not."""
    api = api_any
    assert (await api.put("/v1/policies/ek", POLICY)).status_code == 200
    views = {}
    for sid in ("swept", "unswept"):
        t0 = api.clock.now_ms()
        await api.post("/v1/sessions", {"id": sid, "user_id": "u", "kind": "ek"})
        api.advance(5)
        before = (await api.get(f"/v1/sessions/{sid}")).json()
        assert before["status"] == "timed_out"
        if sid == "swept":
            await api.post("/v1/maintenance/sweep", {})
        event = {"event_id": f"e-{sid}", "session_id": sid, "user_id": "u"}
        event |= {"type": "action", "name": "click", "at": iso(t0 + 3_000)}
        stored = await api.post("/v1/events", {"events": [event]})
        assert stored.json()["stored"] == 1, stored.text
        views[sid] = shown((await api.get(f"/v1/sessions/{sid}")).json(), t0)
    assert views["swept"]["status"] == "timed_out"
    assert views["unswept"] == views["swept"]


async def test_a_beat_stamped_ahead_is_taken_when_it_arrived(api_any: Harness) -> None:
    """A client clock running fast stamps its beat ahead, within the accepted window but past
    the session's deadline: the beat counts as made now, and the answer agrees with reads
    (no 409 that calls an active session closed, no deadline stretched by the skew)."""
    api = api_any
    assert (
        await api.put("/v1/policies/fk", {"heartbeat_interval_s": 10, "timeout_s": 30})
    ).status_code == 200
    await api.post("/v1/sessions", {"id": "fast", "user_id": "u", "kind": "fk"})
    await api.post("/v1/sessions", {"id": "batched", "user_id": "u", "kind": "fk"})
    api.advance(5)
    now = api.clock.now_ms()
    ahead = iso(now + 100_000)
    beat = await api.post("/v1/sessions/fast/heartbeat", {"at": ahead})
    assert beat.status_code == 200, beat.text
    assert ms(beat.json()["last_seen_at"]) == now
    assert ms(beat.json()["expires_at"]) == now + 30_000
    batch = await api.post(
        "/v1/heartbeats", {"heartbeats": [{"session_id": "batched", "at": ahead}]}
    )
    (result,) = batch.json()["results"]
    assert result["outcome"] == "ok", result
    read = (await api.get("/v1/sessions/batched")).json()
    assert (read["status"], ms(read["last_seen_at"])) == ("active", now)


async def test_late_beats_and_ends_amend_an_overdue_session_swept_or_not(
    api_any: Harness,
) -> None:
    """Evidence made before the deadline, sent after it: the session already read as timed
    out, so the beat or end that corrects it counts as an amendment, swept first or not, on
    the single heartbeat, the batch and the end alike."""
    api = api_any
    assert (await api.put("/v1/policies/ak", POLICY)).status_code == 200

    async def single(sid: str, at: str) -> None:
        assert (await api.post(f"/v1/sessions/{sid}/heartbeat", {"at": at})).status_code == 200

    async def batch(sid: str, at: str) -> None:
        sent = await api.post("/v1/heartbeats", {"heartbeats": [{"session_id": sid, "at": at}]})
        assert sent.json()["results"][0]["outcome"] == "ok", sent.text

    async def end(sid: str, at: str) -> None:
        assert (await api.post(f"/v1/sessions/{sid}/end", {"at": at})).status_code == 200

    for name, write in (("single", single), ("batch", batch), ("end", end)):
        views = {}
        for swept in (True, False):
            sid = f"{name}-{'swept' if swept else 'unswept'}"
            t0 = api.clock.now_ms()
            await api.post("/v1/sessions", {"id": sid, "user_id": "u", "kind": "ak"})
            api.advance(5)
            assert (await api.get(f"/v1/sessions/{sid}")).json()["status"] == "timed_out"
            if swept:
                await api.post("/v1/maintenance/sweep", {})
            await write(sid, iso(t0 + 3_000))
            views[swept] = shown((await api.get(f"/v1/sessions/{sid}")).json(), t0)
            api.advance(60)  # the next story starts clear of this one
            await api.post("/v1/maintenance/sweep", {})
        assert views[True]["amended_count"] == 1, (name, views)
        assert views[False] == views[True], name
