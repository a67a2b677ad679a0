"""The browser tracker's endpoints and publishable keys, over HTTP in process."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from sessionkeeper.links.container import LinkServices
from sessionkeeper.links.tracker_service import CLOSE_WINDOW_MS, TrackerService
from tests.support import Harness, ms

ORIGIN = "https://school.example"
PLAIN = "text/plain;charset=UTF-8"


def tracker(api: Harness) -> TrackerService:
    return api.services.of(LinkServices).tracker


async def publishable_key(api: Harness, origins: list[str] | None = None) -> str:
    response = await api.post("/v1/publishable-keys", {"origins": origins or [ORIGIN]})
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    assert key.startswith("pk_")
    return key


async def send(
    api: Harness, path: str, body: dict[str, Any], origin: str | None = ORIGIN
) -> httpx.Response:
    headers = {"Content-Type": PLAIN}
    if origin is not None:
        headers["Origin"] = origin
    return await api.client.post(path, content=json.dumps(body), headers=headers)


async def start(api: Harness, key: str, **fields: Any) -> dict[str, Any]:
    body = {"key": key, "kind": "page", "user_id": "alice", **fields}
    response = await send(api, "/v1/tracker/start", body)
    assert response.status_code == 201, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    started: dict[str, Any] = response.json()
    return started


def report(token: str, seq: int, ms: int, state: str = "visible", **extra: Any) -> dict[str, Any]:
    return {
        "token": token,
        "seq": seq,
        "engaged_ms": ms,
        "visible_ms": ms,
        "wall_ms": ms,
        "state": state,
        **extra,
    }


async def session(api: Harness, session_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await api.get(f"/v1/sessions/{session_id}")).json()
    return body


async def test_start_beat_end_with_a_publishable_key(api_any: Harness) -> None:
    api = api_any
    key = await publishable_key(api)
    started = await start(api, key, subject={"site_id": "s1"})
    assert started["token"].startswith("tt_")
    assert started["heartbeat_interval_s"] == 60.0 and started["hidden_timeout_s"] == 900.0
    sid = started["session_id"]
    stored = await session(api, sid)
    assert stored["source"] == "browser" and stored["user_id"] == "alice"
    assert stored["status"] == "active" and stored["subject"] == {"site_id": "s1"}

    api.advance(30)
    beat = await send(api, "/v1/tracker/beat", report(started["token"], 1, 30_000))
    assert beat.status_code == 200, beat.text
    assert beat.headers["access-control-allow-origin"] == ORIGIN
    assert beat.json()["wall_ms"] == 30_000
    assert (await session(api, sid))["last_seen_at"] != stored["last_seen_at"]

    api.advance(30)
    end = await send(api, "/v1/tracker/end", report(started["token"], 2, 59_000))
    assert end.status_code == 200, end.text
    ended = await session(api, sid)
    assert ended["status"] == "ended" and ended["end_reason"] == "client"
    assert ended["duration_s"] == 60.0  # the server's lifecycle, not the counters
    assert ended["attributes"]["engaged_ms"] == 59_000
    assert ended["attributes"]["wall_ms"] == 59_000
    # A beat after the end: 409, readable by the page.
    late = await send(api, "/v1/tracker/beat", report(started["token"], 3, 60_000))
    assert late.status_code == 409 and late.headers["access-control-allow-origin"] == ORIGIN


async def test_counters_keep_the_maximum_and_are_capped_by_elapsed_time(api_any: Harness) -> None:
    api = api_any
    token = (await start(api, await publishable_key(api)))["token"]
    api.advance(10)
    # Ten minutes claimed after ten seconds: capped at the elapsed time plus the tolerance.
    forged = {**report(token, 1, 5_000), "wall_ms": 600_000}
    capped = await send(api, "/v1/tracker/beat", forged)
    assert capped.json()["wall_ms"] == 15_000 and capped.json()["engaged_ms"] == 5_000
    api.advance(10)
    body = {**report(token, 3, 20_000), "engaged_ms": 12_000, "visible_ms": 18_000}
    assert (await send(api, "/v1/tracker/beat", body)).json()["engaged_ms"] == 12_000
    # An older report arriving late, and a duplicate: nothing goes back.
    older = await send(api, "/v1/tracker/beat", report(token, 2, 5_000))
    again = await send(api, "/v1/tracker/beat", body)
    for answer in (older, again):
        assert answer.status_code == 200
        assert answer.json() | {"session_id": ""} == {
            "session_id": "",
            "status": "active",
            "engaged_ms": 12_000,
            "visible_ms": 18_000,
            "wall_ms": 20_000,
        }
    # Engaged time is visible time, visible time is wall time.
    api.advance(10)
    odd = {**report(token, 4, 25_000), "engaged_ms": 29_000, "visible_ms": 27_000}
    assert (await send(api, "/v1/tracker/beat", odd)).json() | {"session_id": ""} == {
        "session_id": "",
        "status": "active",
        "engaged_ms": 25_000,
        "visible_ms": 25_000,
        "wall_ms": 25_000,
    }


async def test_reports_kept_offline_and_delivered_together_keep_their_time(
    api_any: Harness,
) -> None:
    api = api_any
    started = await start(api, await publishable_key(api))
    token, begun = started["token"], api.clock.now_ms()
    # Three beats a minute apart could not be sent; they go out together, with their times.
    api.advance(200)
    for seq in (1, 2, 3):
        kept = report(token, seq, seq * 60_000, at=begun + seq * 60_000)
        answer = await send(api, "/v1/tracker/beat", kept)
        assert answer.status_code == 200, answer.text
    assert answer.json()["wall_ms"] == 180_000
    stored = await session(api, started["session_id"])
    assert ms(stored["last_seen_at"]) == begun + 180_000  # the last beat's own time


async def test_attributes_must_leave_room_for_what_is_added(api: Harness) -> None:
    full = {f"k{i}": i for i in range(99)}
    key = await publishable_key(api)
    body = {"key": key, "kind": "page", "attributes": full}
    refused = await send(api, "/v1/tracker/start", body)
    assert refused.status_code == 422 and refused.json()["field"] == "attributes"
    link = {"target_url": "https://a.example/", "kind": "k", "mode": "redirect", "attributes": full}
    assert (await api.post("/v1/links", link, scope="ingest")).status_code == 422


async def test_a_hidden_page_keeps_its_session_for_the_hidden_timeout(api_any: Harness) -> None:
    api = api_any
    await api.put("/v1/policies/page", {"heartbeat_interval_s": 10, "hidden_timeout_s": 120})
    started = await start(api, await publishable_key(api))
    token, sid = started["token"], started["session_id"]
    api.advance(5)
    await send(api, "/v1/tracker/beat", report(token, 1, 5_000, "hidden"))
    api.advance(100)  # past the visible timeout (50 s), within the hidden one
    await api.post("/v1/maintenance/sweep")
    assert (await session(api, sid))["status"] == "active"
    # Visible again: the policy's timeout is back.
    await send(api, "/v1/tracker/beat", report(token, 2, 105_000))
    api.advance(51)
    await api.post("/v1/maintenance/sweep")
    closed = await session(api, sid)
    assert closed["status"] == "timed_out" and closed["estimated"] is True
    assert closed["duration_s"] == 105 + 5  # its last beat, plus grace (half the interval)
    # A hidden page that never comes back times out after the hidden timeout, with the
    # estimated end after its last beat (last_seen_at + grace).
    second = await start(api, await publishable_key(api))
    api.advance(2)
    await send(api, "/v1/tracker/beat", report(second["token"], 1, 2_000, "hidden"))
    api.advance(119)
    await api.post("/v1/maintenance/sweep")
    assert (await session(api, second["session_id"]))["status"] == "active"
    api.advance(2)
    await api.post("/v1/maintenance/sweep")
    gone = await session(api, second["session_id"])
    assert gone["status"] == "timed_out"
    assert gone["duration_s"] == 2 + 5  # up to the last beat, plus grace (half the interval)


async def test_wrong_origin_and_preflights(api: Harness) -> None:
    key = await publishable_key(api)
    body = {"key": key, "kind": "page"}
    for origin in ("https://evil.example", None, "null"):
        refused = await send(api, "/v1/tracker/start", body, origin=origin)
        assert refused.status_code == 403, origin
        assert "access-control-allow-origin" not in refused.headers
    preflight = await api.client.options(
        "/v1/tracker/start",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    # Every origin gets the same preflight, lest it tell which sites use the server; the
    # report that follows is refused all the same (above).
    other = await api.client.options(
        "/v1/tracker/start",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert other.status_code == 204
    assert other.headers["access-control-allow-origin"] == "https://evil.example"
    for headers, status in (({}, 403), ({"Origin": ORIGIN}, 404)):
        path = "/v1/tracker/start" if status == 403 else "/v1/tracker/stop"
        refused = await api.client.options(path, headers=headers)
        assert refused.status_code == status
        assert refused.headers["content-type"].startswith("application/problem+json")
    # A token used from another origin than its start's is refused too.
    token = (await start(api, key))["token"]
    stolen = await send(api, "/v1/tracker/beat", report(token, 1, 1), origin="https://evil.example")
    assert stolen.status_code == 403


async def test_revoked_and_unknown_credentials(api: Harness) -> None:
    key = await publishable_key(api)
    listed = (await api.get("/v1/publishable-keys")).json()["items"]
    assert [k["origins"] for k in listed] == [[ORIGIN]]
    await api.client.delete(f"/v1/keys/{listed[0]['id']}", headers=api.auth())
    api.services.auth.forget()
    response = await send(api, "/v1/tracker/start", {"key": key, "kind": "page"})
    assert response.status_code == 401
    unknown = await send(api, "/v1/tracker/beat", report("tt_nothing", 1, 1))
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1]",
        json.dumps({"token": 5}),
        json.dumps({"token": "tt_x", "seq": -1}),
        json.dumps({"token": "tt_x", "wall_ms": 1.5}),
        json.dumps({"token": "tt_x", "state": "gone"}),
        json.dumps({"token": "tt_x", "surprise": 1}),
        json.dumps({"token": "tt_x", "pad": "x" * 70_000}),
    ],
)
async def test_bad_reports_are_422(api: Harness, body: str) -> None:
    response = await api.client.post(
        "/v1/tracker/beat", content=body, headers={"Content-Type": PLAIN}
    )
    assert response.status_code == 422, response.text


async def test_bad_starts_are_422(api: Harness) -> None:
    key = await publishable_key(api)
    for body in ({"key": key}, {"key": key, "kind": "a b"}, {"key": key, "kind": "p", "x": 1}):
        assert (await send(api, "/v1/tracker/start", body)).status_code == 422


async def test_publishable_key_origins_are_checked(api: Harness) -> None:
    never_sent = [f"{o}:{p}" for o, p in (("https://a.example", 443), ("http://a.example", 80))]
    out_of_range = ["https://a.example:0", "https://a.example:65536"]
    for origins in (
        ["school.example"],
        ["https://a.example/path"],
        [],
        [ORIGIN, ORIGIN],
        *([o] for o in never_sent + out_of_range),
    ):
        response = await api.post("/v1/publishable-keys", {"origins": origins})
        assert response.status_code == 422, origins
    assert (
        await api.post("/v1/publishable-keys", {"origins": [ORIGIN]}, "ingest")
    ).status_code == 403
    other_port = await api.post("/v1/publishable-keys", {"origins": ["https://a.example:8443"]})
    assert other_port.status_code == 201, other_port.text


async def test_a_publishable_key_is_refused_everywhere_else(api: Harness) -> None:
    """Every operation that takes a key answers 403 to a publishable one: it cannot read,
    list, start by the sessions API, or touch any session."""
    key = await publishable_key(api)
    headers = {"Authorization": f"Bearer {key}", "Origin": ORIGIN}
    document = (await api.client.get("/openapi.json")).json()
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "401" not in operation["responses"] or path.startswith("/v1/tracker/"):
                continue
            url = re.sub(r"\{[^}]+\}", "x1", path)
            response = await api.client.request(method.upper(), url, headers=headers, json={})
            # /v1/me takes an end user's token, not a key: any key there is no credential.
            refused = 401 if path == "/v1/me" or path.startswith("/v1/me/") else 403
            assert response.status_code == refused, (method, path, response.text)
            checked += 1
    assert checked > 40


async def test_the_companion_page_beats_with_its_token(api: Harness) -> None:
    link = (
        await api.post(
            "/v1/links",
            {"target_url": "https://zoom.us/j/1", "kind": "lesson", "mode": "companion"},
            scope="ingest",
        )
    ).json()
    page = (await api.client.get("/t/" + link["token"])).text
    token = re.search(r'data-token="([^"]+)"', page)
    assert token is not None and 'data-interval="60"' in page
    api.advance(20)
    beat = await send(api, "/v1/tracker/beat", report(token.group(1), 1, 20_000), origin=None)
    assert beat.status_code == 200, beat.text
    closing = await send(api, "/v1/tracker/end", report(token.group(1), 2, 30_000), origin=None)
    # A companion page's close might be a reload: its end waits for the close window.
    assert closing.json()["status"] == "active" and closing.json()["wall_ms"] == 25_000
    sid = closing.json()["session_id"]
    api.advance(CLOSE_WINDOW_MS / 1000 - 1)
    assert await tracker(api).close_due() == 0
    api.advance(2)
    assert await tracker(api).close_due() == 1
    ended = await session(api, sid)
    assert ended["status"] == "ended" and ended["end_reason"] == "client"
    assert ended["duration_s"] == 20.0  # exactly at the close
    assert ended["attributes"]["wall_ms"] == 25_000


async def test_a_reloaded_companion_page_continues_its_session(api_any: Harness) -> None:
    api = api_any
    link = (
        await api.post(
            "/v1/links",
            {"target_url": "https://zoom.us/j/1", "kind": "lesson", "mode": "companion"},
            scope="ingest",
        )
    ).json()
    first = (await api.client.get("/t/" + link["token"])).text
    token = re.search(r'data-token="([^"]+)"', first)
    assert token is not None
    api.advance(20)
    await send(api, "/v1/tracker/beat", report(token.group(1), 1, 20_000), origin=None)
    api.advance(1)
    await send(api, "/v1/tracker/end", report(token.group(1), 2, 21_000), origin=None)
    # The reload: the same click (the cookie), the totals so far, and a beat at once.
    again = (await api.client.get("/t/" + link["token"])).text
    assert f'data-token="{token.group(1)}"' in again
    assert 'data-continued="1"' in again and 'data-wall="21000"' in again
    api.advance(1)
    beat = await send(api, "/v1/tracker/beat", report(token.group(1), 3, 22_000), origin=None)
    assert beat.json()["status"] == "active"
    api.advance(CLOSE_WINDOW_MS / 1000 + 1)
    assert await tracker(api).close_due() == 0
    detail = (await api.get(f"/v1/links/{link['id']}")).json()
    assert detail["clicks"] == 1


async def test_the_script_is_served(api: Harness) -> None:
    response = await api.client.get("/tracker.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "v1/tracker/" in response.text


async def test_many_quick_reports_credit_no_more_than_the_time_that_passed(api: Harness) -> None:
    """Each report may run 5 s ahead of the server's clock, but 40 of them in 2 s must not
    add up to 200 s: every total stays within the session's life plus that tolerance once."""
    key = await publishable_key(api)
    started = await start(api, key)
    for seq in range(1, 41):
        api.advance(0.05)
        beat = await send(api, "/v1/tracker/beat", report(started["token"], seq, seq * 5_000))
        assert beat.status_code in (200, 204), beat.text
    attributes = (await session(api, started["session_id"]))["attributes"]
    assert attributes["engaged_ms"] <= 2_000 + 5_000, attributes


async def test_the_room_left_is_what_each_path_adds(api: Harness) -> None:
    key = await publishable_key(api)
    # The tracker's start adds five keys (the browser, its mode, three counters).
    five_short = {f"k{i}": i for i in range(95)}
    body = {"key": key, "kind": "page", "attributes": five_short}
    assert (await send(api, "/v1/tracker/start", body)).status_code == 201
    # A click adds six (the link, its mode, the browser, and the tracker's three counters).
    six_short = {f"k{i}": i for i in range(94)}
    link = {"target_url": "https://a.example/", "kind": "k", "mode": "companion"}
    link["attributes"] = six_short
    made = await api.post("/v1/links", link, scope="ingest")
    assert made.status_code == 201, made.text


async def test_only_the_trackers_reports_set_its_counters(api: Harness) -> None:
    claimed = {"engaged_ms": 999_999_999, "visible_ms": 999_999_999, "wall_ms": 999_999_999}
    key = await publishable_key(api)
    started = await start(api, key, attributes={**claimed, "course": "fr"})
    attributes = (await session(api, started["session_id"]))["attributes"]
    assert attributes["course"] == "fr"
    assert not set(claimed) & set(attributes), attributes
    link = {"target_url": "https://a.example/", "kind": "k", "mode": "redirect"}
    made = await api.post("/v1/links", {**link, "attributes": claimed}, scope="ingest")
    click = await api.client.get("/t/" + made.json()["token"])
    assert click.status_code == 302
    detail = (await api.get(f"/v1/links/{made.json()['id']}", scope="read")).json()
    clicked = await session(api, detail["recent_clicks"][0]["session_id"])
    assert not set(claimed) & set(clicked["attributes"]), clicked


async def test_a_heartbeat_may_not_set_a_browser_sessions_counters(api_any: Harness) -> None:
    api = api_any
    key = await publishable_key(api)
    sid = (await start(api, key))["session_id"]
    path = f"/v1/sessions/{sid}/heartbeat"
    refused = await api.post(path, {"attributes": {"engaged_ms": 36_000_000}}, scope="ingest")
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "attributes" and "engaged_ms" in refused.json()["detail"]
    assert "engaged_ms" not in (await session(api, sid))["attributes"]
    other = await api.post(path, {"attributes": {"course": "fr"}}, scope="ingest")
    assert other.status_code == 200, other.text
    # Other sessions keep whatever attributes their clients give them.
    await api.post("/v1/sessions", {"id": "plain", "user_id": "u", "kind": "game"})
    plain = await api.post("/v1/sessions/plain/heartbeat", {"attributes": {"engaged_ms": 5}})
    assert plain.status_code == 200, plain.text
