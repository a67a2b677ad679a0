"""/v1/me with end-user tokens, and /v1/users/{user_id} with API keys: a user's token reads and
writes that user's data only, on every route."""

from __future__ import annotations

import json

from tests.api.end_users import User, configure
from tests.support import Harness

OUTCOME = {"metrics": {"score": 80}, "counters": {"words": 10}, "tags": {"topics": ["travel"]}}


async def test_a_user_starts_beats_ends_and_scores_their_own_session(api: Harness) -> None:
    await configure(api)
    alice = User(api, "alice")
    r = await alice.call("POST", "/v1/me/sessions", {"id": "a1", "kind": "lesson"})
    assert r.status_code == 201, r.text
    assert r.json()["user_id"] == "alice" and r.json()["outcome"] is None
    # A retried start is 200; user_id cannot be given (it comes from the token).
    assert (
        await alice.call("POST", "/v1/me/sessions", {"id": "a1", "kind": "lesson"})
    ).status_code == 200
    r = await alice.call("POST", "/v1/me/sessions", {"kind": "lesson", "user_id": "bob"})
    assert r.status_code == 422 and r.json()["field"] == "user_id"
    api.advance(30)
    r = await alice.call("POST", "/v1/me/sessions/a1/heartbeat")
    assert r.status_code == 200 and r.json()["applied"] is True
    api.advance(30)
    r = await alice.call("POST", "/v1/me/sessions/a1/end", {"outcome": OUTCOME})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ended" and r.json()["duration_s"] == 60.0
    assert r.json()["outcome"]["metrics"] == {"score": 80.0}
    r = await alice.call("PUT", "/v1/me/sessions/a1/outcome", {"metrics": {"score": 90}})
    assert r.status_code == 200 and r.json()["outcome"]["metrics"] == {"score": 90.0}
    r = await alice.call("GET", "/v1/me/sessions/a1")
    assert r.json()["outcome"]["metrics"] == {"score": 90.0}
    # The same session through the tenant's API.
    r = await api.get("/v1/users/alice/sessions", scope="read")
    assert [s["id"] for s in r.json()["items"]] == ["a1"]
    assert r.json()["items"][0]["outcome"]["metrics"] == {"score": 90.0}


async def test_an_end_with_a_refused_outcome_leaves_the_session_active(api: Harness) -> None:
    await configure(api)
    await api.put("/v1/metric-definitions/score", {"min": 0, "max": 100})
    alice = User(api, "alice")
    await alice.call("POST", "/v1/me/sessions", {"id": "a1", "kind": "lesson"})
    r = await alice.call("POST", "/v1/me/sessions/a1/end", {"outcome": {"metrics": {"score": 101}}})
    assert r.status_code == 422 and r.json()["field"] == "metrics.score"
    assert (await alice.call("GET", "/v1/me/sessions/a1")).json()["status"] == "active"


async def test_every_me_route_keeps_to_the_tokens_user(api: Harness) -> None:
    await configure(api)
    alice, bob = User(api, "alice"), User(api, "bob")
    await alice.call("POST", "/v1/me/sessions", {"id": "a1", "kind": "lesson"})
    await alice.call("PUT", "/v1/me/sessions/a1/outcome", OUTCOME)
    # An admin's session of alice too: still hers.
    await api.post("/v1/sessions", {"id": "a2", "user_id": "alice", "kind": "call"})
    await bob.call("POST", "/v1/me/sessions", {"id": "b1", "kind": "lesson"})

    # Bob cannot reach alice's sessions: each answers as if they did not exist.
    for method, path, body in [
        ("GET", "/v1/me/sessions/a1", None),
        ("POST", "/v1/me/sessions/a1/heartbeat", None),
        ("POST", "/v1/me/sessions/a1/end", None),
        ("PUT", "/v1/me/sessions/a1/outcome", {"metrics": {"score": 1}}),
        ("POST", "/v1/me/sessions/a1/end", {"outcome": {"metrics": {"score": 1}}}),
    ]:
        r = await bob.call(method, path, body)
        assert r.status_code == 404, (method, path, r.text)
    # A start with alice's session id is a conflict in the tenant, never a takeover.
    r = await bob.call("POST", "/v1/me/sessions", {"id": "a1", "kind": "lesson"})
    assert r.status_code == 409
    assert r.json().get("session") is None  # alice's session is not shown to bob

    r = await alice.call("GET", "/v1/me/sessions/a1")
    assert r.json()["status"] == "active" and r.json()["outcome"]["metrics"] == {"score": 80.0}
    assert [s["id"] for s in (await bob.call("GET", "/v1/me/sessions")).json()["items"]] == ["b1"]
    assert {s["id"] for s in (await alice.call("GET", "/v1/me/sessions")).json()["items"]} == {
        "a1",
        "a2",
    }
    bob_stats = (await bob.call("GET", "/v1/me/stats")).json()
    assert bob_stats["user_id"] == "bob" and bob_stats["current"]["sessions"] == 1
    assert bob_stats["current"]["counters"] == {}
    bob_recap = (await bob.call("GET", "/v1/me/recap")).json()
    assert bob_recap["last_session"]["id"] == "b1"
    export = json.loads((await bob.call("GET", "/v1/me/export")).text)
    assert [s["id"] for s in export["sessions"]] == ["b1"]
    r = await bob.call("DELETE", "/v1/me")
    assert r.status_code == 200 and r.json()["erased"]["sessions"] == 1
    assert (await alice.call("GET", "/v1/me/sessions/a1")).status_code == 200
    assert len((await alice.call("GET", "/v1/me/sessions")).json()["items"]) == 2


async def test_history_newest_first_with_limit_cursor_and_kind(api: Harness) -> None:
    await configure(api)
    alice = User(api, "alice")
    for i in range(5):
        kind = "lesson" if i % 2 == 0 else "call"
        await alice.call("POST", "/v1/me/sessions", {"id": f"s{i}", "kind": kind})
        api.advance(60)
    r = await alice.call("GET", "/v1/me/sessions", limit=2)
    page = r.json()
    assert [s["id"] for s in page["items"]] == ["s4", "s3"]
    r = await alice.call("GET", "/v1/me/sessions", limit=2, cursor=page["next_cursor"])
    assert [s["id"] for s in r.json()["items"]] == ["s2", "s1"]
    r = await alice.call("GET", "/v1/me/sessions", kind="lesson")
    assert [s["id"] for s in r.json()["items"]] == ["s4", "s2", "s0"]
    assert r.json()["next_cursor"] is None
    assert (await alice.call("GET", "/v1/me/sessions", limit=101)).status_code == 422
    assert (await alice.call("GET", "/v1/me/sessions", cursor="garbage")).status_code == 422
    r = await api.get("/v1/users/alice/sessions", scope="read", kind="call")
    assert [s["id"] for s in r.json()["items"]] == ["s3", "s1"]


async def test_users_routes_need_the_right_key(api: Harness) -> None:
    await configure(api)
    await api.post("/v1/sessions", {"id": "a1", "user_id": "alice", "kind": "lesson"})
    for path in ["sessions", "stats", "recap", "export"]:
        assert (await api.get(f"/v1/users/alice/{path}", scope="read")).status_code == 200
        assert (await api.get(f"/v1/users/alice/{path}", scope="ingest")).status_code == 403
    r = await api.client.delete("/v1/users/alice", headers=api.auth("read"))
    assert r.status_code == 403
    # An end-user token opens /v1/me only, not the tenant's API.
    alice = User(api, "alice")
    assert (await alice.call("GET", "/v1/users/alice/sessions")).status_code == 401
    assert (await alice.call("GET", "/v1/sessions")).status_code == 401
    # Another tenant's key sees nothing of alice.
    api.services.tenants.create_tenant("other")
    other = {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}
    r = await api.client.get("/v1/users/alice/sessions", headers=other)
    assert r.status_code == 200 and r.json()["items"] == []


async def test_stats_count_attendances_not_the_rooms_a_user_created(api: Harness) -> None:
    await configure(api)
    r = await api.post("/v1/rooms", {"id": "room1", "kind": "study", "created_by": "alice"})
    assert r.status_code == 201, r.text
    r = await api.post("/v1/rooms/room1/participants", {"user_id": "alice"})
    assert r.status_code == 201, r.text
    stats = (await User(api, "alice").call("GET", "/v1/me/stats")).json()
    # One attendance; the room's own row (created_by alice) is not a session of hers.
    assert stats["current"]["sessions"] == 1
    assert stats["current"]["by_kind"][0]["kind"] == "study"
