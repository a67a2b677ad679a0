"""Every session endpoint and the status codes a client can see."""

from __future__ import annotations

from sessionkeeper.api.sessions import BatchResult
from tests.support import Harness, iso, ms


async def start(api: Harness, **body: object) -> dict[str, object]:
    body = {"user_id": "u1", "kind": "game", **body}
    response = await api.post("/v1/sessions", body, scope="ingest")
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def test_start_returns_201_with_server_made_time_ordered_id(api: Harness) -> None:
    first = await start(api)
    api.advance(1)
    second = await start(api)
    assert len(str(first["id"])) == 26 and str(first["id"]) < str(second["id"])
    assert first["status"] == "active"
    assert ms(str(first["expires_at"])) - ms(str(first["started_at"])) == 300_000


async def test_repeated_start_is_a_safe_retry(api: Harness) -> None:
    body = {"id": "s-1", "user_id": "u1", "kind": "game", "label": "Doom", "attributes": {"a": 1}}
    first = await api.post("/v1/sessions", body, scope="ingest")
    api.advance(5)
    again = await api.post("/v1/sessions", body, scope="ingest")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


async def test_same_id_different_body_conflicts(api: Harness) -> None:
    await start(api, id="s-1")
    response = await api.post("/v1/sessions", {"id": "s-1", "user_id": "u2", "kind": "game"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["session"]["user_id"] == "u1"


async def test_started_at_in_the_past_is_kept(api: Harness) -> None:
    body = await start(api, started_at=iso(api.clock.now_ms() - 60_000))
    assert ms(str(body["started_at"])) == api.clock.now_ms() - 60_000


async def test_client_times_outside_the_window_are_refused_naming_the_field(api: Harness) -> None:
    too_old = iso(api.clock.now_ms() - 25 * 3600 * 1000)
    response = await api.post("/v1/sessions", {"user_id": "u", "kind": "k", "started_at": too_old})
    assert response.status_code == 422 and response.json()["field"] == "started_at"
    s = await start(api)
    future = iso(api.clock.now_ms() + 6 * 60 * 1000)
    response = await api.post(f"/v1/sessions/{s['id']}/heartbeat", {"at": future})
    assert response.status_code == 422 and response.json()["field"] == "at"


async def test_invalid_ids_and_fields_are_422(api: Harness) -> None:
    for body, field in [
        ({"id": "bad id", "user_id": "u", "kind": "k"}, "id"),
        ({"id": "x" * 65, "user_id": "u", "kind": "k"}, "id"),
        ({"user_id": "u"}, "kind"),
        ({"user_id": 5, "kind": "k"}, "user_id"),
        ({"user_id": "u", "kind": "k", "colour": "red"}, "colour"),
        ({"user_id": "u", "kind": "k", "started_at": "2026-01-05T09:00:00"}, "started_at"),
    ]:
        response = await api.post("/v1/sessions", body)
        assert response.status_code == 422, body
        assert response.json()["field"] == field, response.json()


async def test_heartbeat_moves_forward_only(api: Harness) -> None:
    s = await start(api, id="hb")
    t0 = api.clock.now_ms()
    api.advance(60)
    moved = await api.post("/v1/sessions/hb/heartbeat", {}, scope="ingest")
    assert ms(moved.json()["last_seen_at"]) == t0 + 60_000
    assert ms(moved.json()["expires_at"]) == t0 + 360_000
    older = await api.post("/v1/sessions/hb/heartbeat", {"at": iso(t0 + 30_000)}, scope="ingest")
    assert older.status_code == 200
    assert ms(older.json()["last_seen_at"]) == t0 + 60_000
    assert s["id"] == "hb"


async def test_heartbeat_merges_attributes(api: Harness) -> None:
    await start(api, id="a", attributes={"level": 1, "map": "e1m1"})
    api.advance(1)
    body = (await api.post("/v1/sessions/a/heartbeat", {"attributes": {"level": 2}})).json()
    assert body["attributes"] == {"level": 2, "map": "e1m1"}


async def test_heartbeat_on_closed_session_is_409_with_the_session(api: Harness) -> None:
    await start(api, id="c")
    await api.post("/v1/sessions/c/end", {})
    response = await api.post("/v1/sessions/c/heartbeat", {})
    assert response.status_code == 409
    assert response.json()["session"]["status"] == "ended"


async def test_heartbeat_after_timeout_closes_at_estimated_end(api: Harness) -> None:
    s = await start(api, id="late")
    api.advance(301)
    response = await api.post("/v1/sessions/late/heartbeat", {})
    assert response.status_code == 409
    session = response.json()["session"]
    assert session["status"] == "timed_out" and session["estimated"] is True
    assert ms(session["ended_at"]) == ms(str(s["started_at"])) + 30_000


async def test_heartbeat_unknown_session_is_404(api: Harness) -> None:
    response = await api.post("/v1/sessions/nope/heartbeat", {})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_batch_heartbeats_report_each_outcome(api: Harness) -> None:
    await start(api, id="b1")
    await start(api, id="b2")
    await api.post("/v1/sessions/b2/end", {})
    api.advance(10)
    response = await api.post(
        "/v1/heartbeats",
        {"heartbeats": [{"session_id": "b1"}, {"session_id": "b2"}, {"session_id": "zz"}]},
        scope="ingest",
    )
    assert response.status_code == 200
    body = response.json()
    assert [r["outcome"] for r in body["results"]] == ["ok", "closed", "not_found"]
    assert (body["ok"], body["closed"], body["not_found"]) == (1, 1, 1)
    # The answer is encoded by hand: it must still be exactly what the OpenAPI document says.
    assert BatchResult.model_validate(body).model_dump(mode="json") == body
    assert [r["status"] for r in body["results"]] == ["active", "ended", None]
    stored = (await api.get("/v1/sessions/b1")).json()
    assert ms(stored["last_seen_at"]) == api.clock.now_ms()


async def test_batch_limits(api: Harness) -> None:
    too_many = {"heartbeats": [{"session_id": f"s{i}"} for i in range(1001)]}
    assert (await api.post("/v1/heartbeats", too_many)).status_code == 422
    assert (await api.post("/v1/heartbeats", {"heartbeats": []})).status_code == 422
    full = {"heartbeats": [{"session_id": f"s{i}"} for i in range(1000)]}
    response = await api.post("/v1/heartbeats", full)
    assert response.status_code == 200 and response.json()["not_found"] == 1000


async def test_end_is_exact_and_repeatable(api: Harness) -> None:
    s = await start(api, id="e")
    api.advance(90)
    first = await api.post("/v1/sessions/e/end", {}, scope="ingest")
    api.advance(30)
    second = await api.post("/v1/sessions/e/end", {"at": iso(api.clock.now_ms())})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["duration_s"] == 90.0
    assert first.json()["end_reason"] == "client" and first.json()["estimated"] is False
    assert s["status"] == "active"


async def test_end_with_reason_and_time(api: Harness) -> None:
    s = await start(api, id="r")
    api.advance(100)
    body = (
        await api.post(
            "/v1/sessions/r/end", {"at": iso(ms(str(s["started_at"])) + 50_000), "reason": "admin"}
        )
    ).json()
    assert body["end_reason"] == "admin" and body["duration_s"] == 50.0
    bad = await api.post("/v1/sessions/r/end", {"reason": "timeout"})
    assert bad.status_code == 422 and bad.json()["field"] == "reason"


async def test_end_unknown_is_404(api: Harness) -> None:
    assert (await api.post("/v1/sessions/none/end", {})).status_code == 404


async def test_get_session(api: Harness) -> None:
    await start(api, id="g", label="Chess")
    body = (await api.get("/v1/sessions/g", scope="ingest")).json()
    assert body["label"] == "Chess"
    assert (await api.get("/v1/sessions/missing")).status_code == 404


async def test_list_filters_and_paginates_newest_first(api: Harness) -> None:
    for i in range(7):
        await start(api, id=f"l{i}", user_id=f"u{i % 2}", kind="game" if i < 5 else "voice")
        api.advance(1)
    await api.post("/v1/sessions/l0/end", {})
    page = (await api.get("/v1/sessions", scope="read", limit=3)).json()
    assert [s["id"] for s in page["items"]] == ["l6", "l5", "l4"]
    seen = [s["id"] for s in page["items"]]
    while page["next_cursor"]:
        page = (
            await api.get("/v1/sessions", scope="read", limit=3, cursor=page["next_cursor"])
        ).json()
        seen += [s["id"] for s in page["items"]]
    assert seen == [f"l{i}" for i in reversed(range(7))]
    games = (await api.get("/v1/sessions", kind="game", user_id="u0")).json()["items"]
    assert [s["id"] for s in games] == ["l4", "l2", "l0"]
    ended = (await api.get("/v1/sessions", status="ended")).json()["items"]
    assert [s["id"] for s in ended] == ["l0"]
    t0 = ms(str(games[-1]["started_at"]))
    window = (
        await api.get("/v1/sessions", started_after=iso(t0 + 1000), started_before=iso(t0 + 3000))
    ).json()["items"]
    assert [s["id"] for s in window] == ["l2", "l1"]


async def test_list_rejects_bad_parameters(api: Harness) -> None:
    assert (await api.get("/v1/sessions", limit=501)).status_code == 422
    assert (await api.get("/v1/sessions", limit=0)).status_code == 422
    bad = await api.get("/v1/sessions", cursor="not-a-cursor")
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"
    assert (await api.get("/v1/sessions", status="sleeping")).status_code == 422


async def test_sweep_endpoint_closes_overdue(api: Harness) -> None:
    s = await start(api, id="sw")
    api.advance(400)
    body = (await api.post("/v1/maintenance/sweep")).json()
    assert body["closed"] == 1
    stored = (await api.get("/v1/sessions/sw")).json()
    assert stored["status"] == "timed_out" and stored["end_reason"] == "timeout"
    assert ms(stored["ended_at"]) == ms(str(s["started_at"])) + 30_000
    assert (await api.post("/v1/maintenance/sweep")).json()["closed"] == 0
