"""POST /v1/events, GET /v1/events and GET /v1/sessions/{id}/events through the app."""

from __future__ import annotations

from tests.support import Harness, iso, ms


def event(event_id: str, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {"event_id": event_id, "user_id": "u1", "type": "page_view"}
    body["name"] = "/home"
    body.update(fields)
    return body


async def test_each_event_gets_its_own_outcome(api_any: Harness) -> None:
    api = api_any
    await api.post("/v1/sessions", {"id": "s1", "user_id": "u1", "kind": "web"})
    deep: dict[str, object] = {}
    for _ in range(40):
        deep = {"x": deep}
    batch = [
        event("e1", session_id="s1"),
        event("e2"),
        event("e1", session_id="s1"),  # repeated within the batch
        event("e3", session_id="nope"),
        event("e4", type="click"),
        event("e5", properties=deep),
        event("e6", at=iso(api.clock.now_ms() - 3 * 86_400_000)),
        "not an object",
        event("e7", extra=1),
    ]
    r = await api.post("/v1/events", {"events": batch}, scope="ingest")
    assert r.status_code == 200, r.text
    body = r.json()
    outcomes = [(x["event_id"], x["outcome"], x["field"]) for x in body["results"]]
    assert outcomes == [
        ("e1", "stored", None),
        ("e2", "stored", None),
        ("e1", "duplicate", None),
        ("e3", "session_not_found", None),
        ("e4", "invalid", "events.4.type"),
        ("e5", "invalid", "events.5.properties"),
        ("e6", "invalid", "events.6.at"),
        (None, "invalid", "events.7"),
        ("e7", "invalid", "events.8.extra"),
    ]
    assert all(x["reason"] for x in body["results"] if x["outcome"] == "invalid")
    assert (body["stored"], body["duplicate"], body["session_not_found"], body["invalid"]) == (
        2,
        1,
        1,
        5,
    )
    # A retry of the whole batch stores nothing twice.
    again = (await api.post("/v1/events", {"events": batch[:2]})).json()
    assert [x["outcome"] for x in again["results"]] == ["duplicate", "duplicate"]
    listed = (await api.get("/v1/events")).json()["items"]
    assert sorted(e["event_id"] for e in listed) == ["e1", "e2"]


async def test_batch_shape_errors_refuse_the_request(api: Harness) -> None:
    too_many = {"events": [event(f"e{i}") for i in range(1001)]}
    r = await api.post("/v1/events", too_many)
    assert r.status_code == 422 and r.json()["field"] == "events"
    assert (await api.post("/v1/events", {"events": []})).status_code == 422
    assert (await api.post("/v1/events", {"evnts": [event("a")]})).status_code == 422
    # 1-64 characters, as documented: a longer id made cursors no listing would take back.
    r = (await api.post("/v1/events", {"events": [event("e" * 65), event("e" * 64)]})).json()
    assert [(i["outcome"], i.get("field")) for i in r["results"]] == [
        ("invalid", "events.0.event_id"),
        ("stored", None),
    ]
    r = await api.post("/v1/events", {"events": [event("a")]}, scope="read")
    assert r.status_code == 403


async def test_an_event_is_a_heartbeat_of_an_active_session_only(api_any: Harness) -> None:
    api = api_any
    await api.put("/v1/policies/web", {"heartbeat_interval_s": 10, "timeout_s": 60})
    await api.post("/v1/sessions", {"id": "live", "user_id": "u1", "kind": "web"})
    await api.post("/v1/sessions", {"id": "done", "user_id": "u1", "kind": "web"})
    await api.post("/v1/sessions/done/end", {})
    api.advance(50)
    at = iso(api.clock.now_ms())
    r = await api.post(
        "/v1/events",
        {"events": [event("a", session_id="live", at=at), event("b", session_id="done", at=at)]},
    )
    assert [x["outcome"] for x in r.json()["results"]] == ["stored", "stored"]
    live = (await api.get("/v1/sessions/live")).json()
    assert live["status"] == "active" and ms(live["last_seen_at"]) == ms(at)
    done = (await api.get("/v1/sessions/done")).json()
    assert done["status"] == "ended" and ms(done["last_seen_at"]) < ms(at)
    # 50 s after the event the session is still alive: the event kept it going.
    api.advance(50)
    await api.post("/v1/maintenance/sweep")
    assert (await api.get("/v1/sessions/live")).json()["status"] == "active"
    # An event after the session timed out does not revive it.
    api.advance(120)
    await api.post("/v1/maintenance/sweep")
    late = await api.post("/v1/events", {"events": [event("c", session_id="live")]})
    assert late.json()["results"][0]["outcome"] == "stored"
    assert (await api.get("/v1/sessions/live")).json()["status"] == "timed_out"


async def test_events_of_many_sessions_at_one_time_beat_each_live_one(api_any: Harness) -> None:
    """Events made without ``at`` share the time of the write: their beats are applied as one
    statement, with the same rule as single beats (closed sessions stay closed)."""
    api = api_any
    await api.put("/v1/policies/web", {"heartbeat_interval_s": 10, "timeout_s": 60})
    ids = [f"s{i}" for i in range(12)]
    for sid in ids:
        await api.post("/v1/sessions", {"id": sid, "user_id": "u1", "kind": "web"})
    await api.post("/v1/sessions/s0/end", {})
    api.advance(30)
    events = [event(f"e-{sid}-{n}", session_id=sid) for sid in ids for n in range(2)]
    r = await api.post("/v1/events", {"events": events})
    assert {x["outcome"] for x in r.json()["results"]} == {"stored"}
    now = api.clock.now_ms()
    for sid in ids[1:]:
        found = (await api.get(f"/v1/sessions/{sid}")).json()
        assert found["status"] == "active" and ms(found["last_seen_at"]) == now
        assert ms(found["expires_at"]) == now + 60_000
    ended = (await api.get("/v1/sessions/s0")).json()
    assert ended["status"] == "ended" and ms(ended["last_seen_at"]) < now


async def test_listing_newest_first_with_filters_and_pages(api_any: Harness) -> None:
    api = api_any
    await api.post("/v1/sessions", {"id": "s1", "user_id": "u1", "kind": "web"})
    start = api.clock.now_ms()
    batch = [
        event(f"e{i:02}", at=iso(start - i * 1000), session_id="s1" if i % 2 else None)
        for i in range(7)
    ]
    batch.append(event("x", user_id="u2", type="action", name="buy", at=iso(start - 500)))
    await api.post("/v1/events", {"events": batch})
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/events", **params)).json()
        seen += [e["event_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["e00", "x", "e01", "e02", "e03", "e04", "e05", "e06"]
    mine = (await api.get("/v1/events", user_id="u2")).json()["items"]
    assert [(e["event_id"], e["type"], e["name"]) for e in mine] == [("x", "action", "buy")]
    window = await api.get("/v1/events", since=iso(start - 3000), until=iso(start - 1000))
    assert [e["event_id"] for e in window.json()["items"]] == ["e02", "e03"]
    of_session = (await api.get("/v1/sessions/s1/events", scope="ingest")).json()["items"]
    assert [e["event_id"] for e in of_session] == ["e01", "e03", "e05"]
    assert of_session[0]["session_id"] == "s1" and ms(of_session[0]["at"]) == start - 1000
    assert (await api.get("/v1/sessions/nope/events")).status_code == 404
    assert (await api.get("/v1/events", cursor="garbage")).status_code == 422
    assert (await api.get("/v1/events", type="click")).status_code == 422


async def test_tenants_never_see_each_others_events(api: Harness) -> None:
    await api.post("/v1/sessions", {"id": "s1", "user_id": "u1", "kind": "web"})
    await api.post("/v1/events", {"events": [event("mine", session_id="s1")]})
    api.services.tenants.create_tenant("other")
    other = {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}
    theirs = {"events": [event("mine", session_id="s1"), event("own")]}
    r = await api.client.post("/v1/events", json=theirs, headers=other)
    # Their event_id space is their own; our session does not exist for them.
    assert [x["outcome"] for x in r.json()["results"]] == ["session_not_found", "stored"]
    listed = (await api.client.get("/v1/events", headers=other)).json()["items"]
    assert [e["event_id"] for e in listed] == ["own"]
    assert (await api.client.get("/v1/sessions/s1/events", headers=other)).status_code == 404
    ours = (await api.get("/v1/events")).json()["items"]
    assert [e["event_id"] for e in ours] == ["mine"]


async def test_text_and_properties_come_back_exactly_as_sent(api_any: Harness) -> None:
    """Non-ASCII text, characters outside the basic plane, escapes and nested properties
    survive the batch insert (on PostgreSQL the rows travel as one JSON text) unchanged."""
    api = api_any
    await api.post("/v1/sessions", {"id": "s1", "user_id": "žluťoučký kůň 🐎", "kind": "web"})
    properties = {
        "quote": 'say "hi"\\n',
        "emoji": "🎉 party",
        "nested": {"list": [1, 2.5, None, True, "ß"], "empty": {}},
        "tab": "a\tb",
    }
    sent = [
        event("u1", session_id="s1", user_id="žluťoučký kůň 🐎", name="/stránka/🐎"),
        event("u2", user_id="日本語", name='/a?b=1&c="d"', properties=properties),
        event("u3", user_id="plain", properties=None),
    ]
    assert (await api.post("/v1/events", {"events": sent})).json()["stored"] == 3
    stored = {e["event_id"]: e for e in (await api.get("/v1/events")).json()["items"]}
    for item in sent:
        got = stored[str(item["event_id"])]
        assert (got["user_id"], got["name"]) == (item["user_id"], item["name"])
        assert got["properties"] == item.get("properties")
    assert stored["u1"]["session_id"] == "s1"
