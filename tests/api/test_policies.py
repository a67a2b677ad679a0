from __future__ import annotations

from tests.support import Harness, ms


async def test_builtin_default_is_listed(api: Harness) -> None:
    items = (await api.get("/v1/policies", scope="read")).json()["items"]
    assert items == [
        {
            "kind": "*",
            "heartbeat_interval_s": 60.0,
            "timeout_s": 300.0,
            "grace_s": 30.0,
            "presence_interval_s": 30.0,
            "room_timeout_s": 3600.0,
            "hidden_timeout_s": 900.0,
            "builtin": True,
        }
    ]


async def test_put_fills_defaults_from_the_interval(api: Harness) -> None:
    response = await api.put("/v1/policies/game", {"heartbeat_interval_s": 10})
    assert response.status_code == 200
    assert response.json() == {
        "kind": "game",
        "heartbeat_interval_s": 10.0,
        "timeout_s": 50.0,
        "grace_s": 5.0,
        "presence_interval_s": 30.0,
        "room_timeout_s": 3600.0,
        "hidden_timeout_s": 900.0,
        "builtin": False,
    }
    kinds = [p["kind"] for p in (await api.get("/v1/policies")).json()["items"]]
    assert kinds == ["*", "game"]


async def test_new_sessions_use_the_kinds_policy_then_the_tenant_default(api: Harness) -> None:
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 1, "timeout_s": 2, "grace_s": 0.5})
    await api.put("/v1/policies/game", {"heartbeat_interval_s": 30})
    game = (await api.post("/v1/sessions", {"user_id": "u", "kind": "game"})).json()
    voice = (await api.post("/v1/sessions", {"user_id": "u", "kind": "voice"})).json()
    assert ms(game["expires_at"]) - ms(game["started_at"]) == 150_000
    assert ms(voice["expires_at"]) - ms(voice["started_at"]) == 2_000


async def test_a_changed_policy_applies_from_the_next_heartbeat(api: Harness) -> None:
    s = (await api.post("/v1/sessions", {"id": "p", "user_id": "u", "kind": "lesson"})).json()
    await api.put(
        "/v1/policies/lesson", {"heartbeat_interval_s": 10, "timeout_s": 20, "grace_s": 4}
    )
    assert (await api.get("/v1/sessions/p")).json()["expires_at"] == s["expires_at"]
    api.advance(5)
    beat = (await api.post("/v1/sessions/p/heartbeat", {})).json()
    assert ms(beat["expires_at"]) - ms(beat["last_seen_at"]) == 20_000
    api.advance(30)
    await api.post("/v1/maintenance/sweep")
    closed = (await api.get("/v1/sessions/p")).json()
    assert ms(closed["ended_at"]) == ms(beat["last_seen_at"]) + 4_000


async def test_a_changed_policy_leaves_overdue_sessions_as_reads_showed_them(
    api_any: Harness,
) -> None:
    """A session overdue when its policy changes already read as timed out at the old
    policy's estimate; it keeps that end, swept before the change or not."""
    api = api_any
    await api.put("/v1/policies/k6", {"heartbeat_interval_s": 2, "timeout_s": 4, "grace_s": 1})
    await api.post("/v1/sessions", {"id": "late", "user_id": "u", "kind": "k6"})
    api.advance(5)
    before = (await api.get("/v1/sessions/late")).json()
    assert (before["status"], before["duration_s"]) == ("timed_out", 1.0)
    changed = {"heartbeat_interval_s": 10, "timeout_s": 60, "grace_s": 0.2}
    assert (await api.put("/v1/policies/k6", changed)).status_code == 200
    after = (await api.get("/v1/sessions/late")).json()
    for field in ("status", "ended_at", "duration_s", "duration_bounds_s", "timeout_s"):
        assert after[field] == before[field], field
    # Closed by the change, as the sweep would have: nothing left for it.
    assert (await api.post("/v1/maintenance/sweep")).json()["closed"] == 0


async def test_tenant_default_does_not_override_a_kinds_own_policy(api: Harness) -> None:
    await api.put("/v1/policies/game", {"heartbeat_interval_s": 30})
    await api.post("/v1/sessions", {"id": "g", "user_id": "u", "kind": "game"})
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 1})
    api.advance(1)
    beat = (await api.post("/v1/sessions/g/heartbeat", {})).json()
    assert ms(beat["expires_at"]) - ms(beat["last_seen_at"]) == 150_000


async def test_inconsistent_policies_are_422_naming_the_field(api: Harness) -> None:
    cases = [
        ({"heartbeat_interval_s": 0.5}, "heartbeat_interval_s"),
        ({"heartbeat_interval_s": 60, "timeout_s": 30}, "timeout_s"),
        ({"grace_s": 1000}, "grace_s"),
        ({"heartbeat_interval_s": "often"}, "heartbeat_interval_s"),
        ({"interval": 5}, "interval"),
    ]
    for body, field in cases:
        response = await api.put("/v1/policies/game", body)
        assert response.status_code == 422, body
        assert response.json()["field"] == field
    assert (await api.put("/v1/policies/bad kind", {})).status_code == 422


async def test_a_policy_reads_back_as_it_was_answered(api: Harness) -> None:
    """Policies are kept in whole milliseconds: a finer value is refused, a derived one is
    rounded before it is answered, so the answer is what every later read shows."""
    for field in ("heartbeat_interval_s", "grace_s"):
        body = {"heartbeat_interval_s": 10, field: 1.0004}
        refused = await api.put("/v1/policies/probe", body)
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    for body in ({"heartbeat_interval_s": 1.001}, {"heartbeat_interval_s": 7.777}):
        answered = (await api.put("/v1/policies/probe", body)).json()
        items = (await api.get("/v1/policies")).json()["items"]
        assert [item for item in items if item["kind"] == "probe"] == [answered]
