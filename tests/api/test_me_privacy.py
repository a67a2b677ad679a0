"""Erasing a user leaves nothing of them behind, checked table by table on SQLite and
PostgreSQL; the export holds everything of them; both are in the audit log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from sessionkeeper.storage.tables import metadata
from tests.api.end_users import User, configure
from tests.support import Harness, ms, running_app


@pytest.fixture
async def api_any(db_url: str) -> AsyncIterator[Harness]:
    """The app on each backend, with a webhook endpoint: its messages name users too."""
    async with running_app(db_url, webhook_allow_private=True) as harness:
        r = await harness.post(
            "/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["session.started"]}
        )
        assert r.status_code == 201, r.text
        yield harness


async def _lots_of(api: Harness, user: str, other: str, n: int) -> None:
    """Sessions, an outcome, events, a room the user made and an attendance in another's
    room through an invitation: every kind of row a user has."""
    ok = {200, 201}
    r = await api.post("/v1/sessions", {"id": f"s{n}", "user_id": user, "kind": "lesson"})
    assert r.status_code in ok, r.text
    r = await api.put(
        f"/v1/sessions/s{n}/outcome", {"metrics": {"score": 1}, "tags": {"t": [user]}}
    )
    assert r.status_code == 200
    api.advance(10)
    assert (await api.post(f"/v1/sessions/s{n}/end")).status_code == 200
    event = {
        "event_id": f"e{n}a",
        "session_id": f"s{n}",
        "user_id": user,
        "type": "action",
        "name": "click",
    }
    event2 = {
        **event,
        "event_id": f"e{n}b",
        "session_id": None,
        "type": "page_view",
        "name": "/home",
    }
    r = await api.post("/v1/events", {"events": [event, event2]})
    assert r.json()["stored"] == 2, r.text
    # A room the user made, joined by the other user.
    r = await api.post("/v1/rooms", {"id": f"room{n}", "kind": "study", "created_by": user})
    assert r.status_code in ok, r.text
    r = await api.post(f"/v1/rooms/room{n}/participants", {"user_id": other})
    assert r.status_code in ok, r.text
    # The user joins the other's room through an invitation.
    r = await api.post("/v1/rooms", {"id": f"other{n}", "kind": "study", "created_by": other})
    assert r.status_code in ok, r.text
    invite = await api.post(f"/v1/rooms/other{n}/invites", {})
    assert invite.status_code == 201, invite.text
    r = await api.post(
        f"/v1/rooms/other{n}/participants",
        {"user_id": user, "invite_token": invite.json()["token"]},
    )
    assert r.status_code in ok, r.text


def _rows_naming(api: Harness, user: str) -> dict[str, int]:
    """Rows of every table that have ``user`` in any text or JSON column."""
    found: dict[str, int] = {}
    with api.runtime.db.read_engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name == "audit_log":
                continue  # the log of the erasure itself names the user, by design
            count = 0
            for row in conn.execute(sa.select(table)).mappings():
                if any(_mentions(value, user) for value in row.values()):
                    count += 1
            if count:
                found[table.name] = count
    return found


def _mentions(value: Any, user: str) -> bool:
    if isinstance(value, str):
        return user in value
    if isinstance(value, dict | list):
        return user in json.dumps(value)
    return False


async def test_erase_leaves_nothing_of_the_user(api_any: Harness) -> None:
    api = api_any
    await _lots_of(api, "alice", "bob", 1)
    await _lots_of(api, "bob", "carol", 2)
    before_bob = _rows_naming(api, "bob")
    assert set(_rows_naming(api, "alice")) >= {
        "webhook_deliveries",
        "sessions",
        "events",
        "session_outcomes",
        "room_invite_uses",
    }

    r = await api.client.delete("/v1/users/alice", headers=api.auth())
    assert r.status_code == 200, r.text
    assert r.json() == {
        "user_id": "alice",
        "erased": {
            "outcomes": 1,
            "events": 2,
            "invite_uses": 1,
            "webhook_messages": 3,
            "rooms_kept": 1,
            "attendances": 1,
            "sessions": 1,
        },
    }
    assert _rows_naming(api, "alice") == {}
    # Bob's data is untouched, his attendance of alice's (now anonymous) room included.
    assert _rows_naming(api, "bob") == before_bob
    room = (await api.get("/v1/rooms/room1", scope="read")).json()
    assert room["created_by"] == "[erased]"
    assert [p["user_id"] for p in room["participants"]] == ["bob"]
    # Erasing again finds nothing, and is logged again.
    again = await api.client.delete("/v1/users/alice", headers=api.auth())
    assert set(again.json()["erased"].values()) == {0}
    entries = (await api.get("/v1/audit", action="user.erase")).json()["items"]
    assert [e["target"] for e in entries] == ["alice", "alice"]
    assert entries[-1]["details"]["events"] == 2
    assert entries[-1]["actor"].startswith("api_key:")


async def test_erase_me_with_a_token(api_any: Harness) -> None:
    api = api_any
    await configure(api)
    await _lots_of(api, "alice", "bob", 1)
    r = await User(api, "alice").call("DELETE", "/v1/me")
    assert r.status_code == 200 and r.json()["erased"]["sessions"] == 1
    assert _rows_naming(api, "alice") == {}
    entries = (await api.get("/v1/audit", action="user.erase")).json()["items"]
    assert entries[0]["actor"] == "end_user_token:alice"


async def test_export_holds_everything_and_is_logged(api: Harness) -> None:
    await configure(api)
    await _lots_of(api, "alice", "bob", 1)
    await _lots_of(api, "bob", "carol", 2)
    r = await api.get("/v1/users/alice/export", scope="read")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    data = r.json()
    assert data["user_id"] == "alice"
    assert sorted(s["id"] for s in data["sessions"]) == sorted(
        ["s1", "room1", data["sessions"][-1]["id"]]
    )
    assert {s["user_id"] for s in data["sessions"]} == {"alice"}
    first = next(s for s in data["sessions"] if s["id"] == "s1")
    assert first["metrics"] == {"score": 1.0} and first["started_at"].endswith("Z")
    assert sorted(e["event_id"] for e in data["events"]) == ["e1a", "e1b"]
    mine = await User(api, "alice").call("GET", "/v1/me/export")
    assert {s["id"] for s in mine.json()["sessions"]} == {s["id"] for s in data["sessions"]}
    entries = (await api.get("/v1/audit", action="user.export")).json()["items"]
    assert len(entries) == 2
    assert entries[-1]["details"] == {"sessions": 3, "events": 2}


def times(value: str | None) -> int | None:
    return None if value is None else ms(value)


async def test_export_shows_sessions_as_every_read_does(api_any: Harness) -> None:
    """An overdue session the sweep has not closed yet is exported timed out at its estimated
    end, as the sessions API shows it; a presence source's session with the source's last
    snapshot as its last_seen_at; storage's bookkeeping is left out."""
    api = api_any
    await api.put("/v1/policies/game", {"heartbeat_interval_s": 1, "timeout_s": 2, "grace_s": 1})
    await api.post("/v1/sessions", {"id": "z1", "user_id": "zoe", "kind": "game"})
    snapshot = [{"user_id": "zoe", "kind": "voice"}]
    assert (await api.put("/v1/presence/bot", snapshot)).status_code == 200
    api.advance(1)
    assert (await api.put("/v1/presence/bot", snapshot)).status_code == 200
    api.advance(4)  # z1 is overdue; the voice session, beaten by the source, is not
    shown = {}
    for session in (await api.get("/v1/users/zoe/sessions", scope="read")).json()["items"]:
        shown[session["id"]] = session
    exported = (await api.get("/v1/users/zoe/export", scope="read")).json()["sessions"]
    assert len(exported) == len(shown) == 2
    for session in exported:
        api_view = shown[session["id"]]
        for field in ("status", "end_reason", "estimated"):
            assert session[field] == api_view[field], (field, session, api_view)
        for field in ("ended_at", "last_seen_at"):  # spelled with milliseconds in the export
            assert times(session[field]) == times(api_view[field]), (field, session, api_view)
        assert not {"sweep_at", "held_until", "start_digest"} & session.keys()
    assert {s["status"] for s in exported} == {"timed_out", "active"}


async def test_no_user_takes_over_the_rooms_of_erased_users(api_any: Harness) -> None:
    api = api_any
    await configure(api)
    room = {"id": "shared", "kind": "reading", "created_by": "zoe"}
    assert (await api.post("/v1/rooms", room)).status_code == 201
    assert (await api.post("/v1/rooms/shared/participants", {"user_id": "kim"})).status_code == 201
    assert (await api.client.delete("/v1/users/zoe", headers=api.auth())).status_code == 200
    # A token naming the placeholder opens nothing, so it cannot end the room kim is in.
    taker = User(api, "[erased]")
    for method, path in (("GET", "/v1/me/sessions"), ("POST", "/v1/me/sessions/shared/end")):
        r = await taker.call(method, path, {} if method == "POST" else None)
        assert r.status_code == 401, r.text
    # No write may name it as a user either.
    for path, body in (
        ("/v1/sessions", {"user_id": "[erased]", "kind": "game"}),
        ("/v1/rooms/shared/participants", {"user_id": "[erased]"}),
        ("/v1/rooms", {"id": "r2", "kind": "reading", "created_by": "[erased]"}),
    ):
        r = await api.post(path, body)
        assert r.status_code == 422, r.text
        assert "erased users" in r.text, r.text
    r = await api.get("/v1/users/%5Berased%5D/sessions", scope="read")
    assert r.status_code == 422, r.text
    assert (await api.get("/v1/rooms/shared", scope="read")).json()["status"] == "active"
