"""How far a user's duration totals can be trusted: ``estimated_s`` and ``bounds_s`` of
``GET /v1/me/stats`` and ``/v1/users/{user_id}/stats`` are the sums of what the kernel says of
each session (``duration_bounds_s`` of ``GET /v1/sessions/{id}``), on a scripted clock.

Policy: heartbeats every 10 s, timeout 30 s, grace 5 s; the tenant's time zone is UTC.

- Last week (2026-01-05): ``old``, a game alice ends herself after 20 s (exact).
- This week (2026-01-12, from 09:00):
  - ``done``, a lesson ended by the client at 100 s (exact: [100, 100]);
  - ``gone``, a lesson that beats at 20 s and goes silent: timed out at 25 s (last beat plus
    grace), an estimated end between the last beat and the next one due: [20, 30];
  - a voice session from the presence of the bot ``bot``, seen at 20 s and missing from the
    snapshot at 30 s: lost presence, an exact end bounded by the snapshots: [20, 30];
  - ``open``, a lesson still active: no duration, no bounds.
"""

from __future__ import annotations

from typing import Any

from tests.api.end_users import User, configure
from tests.support import Harness

DAY_S = 86_400


async def _script(api: Harness) -> None:
    await configure(api)
    policy = {"heartbeat_interval_s": 10, "timeout_s": 30, "grace_s": 5}
    assert (await api.put("/v1/policies/*", policy)).status_code == 200
    alice = User(api, "alice")
    assert (await alice.call("POST", "/v1/me/sessions", {"id": "old", "kind": "game"})).is_success
    api.advance(20)
    assert (await alice.call("POST", "/v1/me/sessions/old/end")).status_code == 200
    api.advance(7 * DAY_S - 20)
    for name in ("done", "gone"):
        r = await alice.call("POST", "/v1/me/sessions", {"id": name, "kind": "lesson"})
        assert r.status_code == 201, r.text
    voice = [{"user_id": "alice", "kind": "voice"}]
    assert (await api.put("/v1/presence/bot", voice)).status_code == 200
    for _ in range(2):
        api.advance(10)
        for name in ("done", "gone"):
            await alice.call("POST", f"/v1/me/sessions/{name}/heartbeat")
        assert (await api.put("/v1/presence/bot", voice)).status_code == 200
    api.advance(10)
    assert (await api.put("/v1/presence/bot", [])).status_code == 200  # lost at 30 s
    for _ in range(7):
        api.advance(10)
        await alice.call("POST", "/v1/me/sessions/done/heartbeat")
    assert (await alice.call("POST", "/v1/me/sessions/done/end")).status_code == 200  # 100 s
    r = await alice.call("POST", "/v1/me/sessions", {"id": "open", "kind": "lesson"})
    assert r.status_code == 201, r.text
    # Someone else's estimated end never counts.
    await api.post("/v1/sessions", {"id": "bob-1", "user_id": "bob", "kind": "lesson"})
    api.advance(5)


async def _kernel_sessions(api: Harness) -> list[dict[str, Any]]:
    """alice's sessions as GET /v1/sessions/{id} gives them."""
    page = (await api.get("/v1/users/alice/sessions", scope="read", limit=100)).json()
    found = []
    for item in page["items"]:
        r = await api.get(f"/v1/sessions/{item['id']}", scope="read")
        assert r.status_code == 200, r.text
        found.append(r.json())
    return found


def _sums(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    closed = [s for s in sessions if s["duration_s"] is not None]
    return {
        "total_duration_s": sum(s["duration_s"] for s in closed),
        "estimated_s": sum(s["duration_s"] for s in closed if s["estimated"]),
        "bounds_s": [
            sum(s["duration_bounds_s"][0] for s in closed),
            sum(s["duration_bounds_s"][1] for s in closed),
        ],
    }


def _trust(totals: dict[str, Any]) -> dict[str, Any]:
    return {k: totals[k] for k in ("total_duration_s", "estimated_s", "bounds_s")}


async def _check_against_the_kernel(api: Harness, stats: dict[str, Any]) -> None:
    sessions = await _kernel_sessions(api)
    this_week = [s for s in sessions if s["id"] != "old"]
    # Whole seconds here: the sums are exact in floating point.
    assert _trust(stats["current"]) == _sums(this_week)
    assert _trust(stats["previous"]) == _sums([s for s in sessions if s["id"] == "old"])
    for kind in stats["current"]["by_kind"]:
        of_kind = [s for s in this_week if s["kind"] == kind["kind"]]
        assert _trust(kind) == _sums(of_kind)


async def test_bounds_are_the_sums_of_the_sessions_bounds(api_any: Harness) -> None:
    api = api_any
    await _script(api)
    r = await User(api, "alice").call("GET", "/v1/me/stats", period="week")
    assert r.status_code == 200, r.text
    stats = r.json()
    current = stats["current"]
    assert current["sessions"] == 4
    # Hand-computed: done 100 (exact), gone 25 in [20, 30] (estimated), voice 30 in [20, 30].
    assert _trust(current) == {
        "total_duration_s": 155.0,
        "estimated_s": 25.0,
        "bounds_s": [140.0, 160.0],
    }
    by_kind = {k["kind"]: _trust(k) for k in current["by_kind"]}
    assert by_kind == {
        "lesson": {"total_duration_s": 125.0, "estimated_s": 25.0, "bounds_s": [120.0, 130.0]},
        "voice": {"total_duration_s": 30.0, "estimated_s": 0.0, "bounds_s": [20.0, 30.0]},
    }
    # Exact ends only: the bounds close on the total, nothing is estimated.
    previous = stats["previous"]
    assert _trust(previous) == {
        "total_duration_s": 20.0,
        "estimated_s": 0.0,
        "bounds_s": [20.0, 20.0],
    }
    assert [_trust(k) for k in previous["by_kind"]] == [_trust(previous)]
    await _check_against_the_kernel(api, stats)


async def test_the_same_after_the_sweep_and_through_the_users_api(api_any: Harness) -> None:
    api = api_any
    await _script(api)
    # ``gone`` was read as the sweep will close it; once swept, nothing changes.
    before = (await User(api, "alice").call("GET", "/v1/me/stats")).json()
    assert (await api.post("/v1/maintenance/sweep")).status_code == 200
    r = await api.get("/v1/users/alice/stats", scope="read", period="week")
    assert r.status_code == 200, r.text
    assert r.json() == before
    await _check_against_the_kernel(api, r.json())
    # A month holds both weeks: the sums of all four closed sessions.
    month = (await api.get("/v1/users/alice/stats", scope="read", period="month")).json()
    assert _trust(month["current"]) == {
        "total_duration_s": 175.0,
        "estimated_s": 25.0,
        "bounds_s": [160.0, 180.0],
    }
    assert _trust(month["previous"]) == {
        "total_duration_s": 0.0,
        "estimated_s": 0.0,
        "bounds_s": [0.0, 0.0],
    }


async def test_bad_input_is_a_problem(api: Harness) -> None:
    await configure(api)
    alice = User(api, "alice")
    for params in ({"period": "year"}, {"tz": "Mars/Olympus"}, {"tz": "x" * 65}):
        r = await alice.call("GET", "/v1/me/stats", **params)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        r = await api.get("/v1/users/alice/stats", scope="read", **params)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
