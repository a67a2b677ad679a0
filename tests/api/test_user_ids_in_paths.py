"""Any user id can be named in ``/v1/users/{user_id}/…``: sent as one percent-encoded path
segment (``team/alice`` as ``team%2Falice``), also with ``%``, unicode, or a ``/`` followed by
a route's own name. Each path reaches exactly that user's data, and an id is always exactly
one segment of the path as sent."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.support import Harness

USERS = ["team/alice", "team", "a%b", "ünï/cødé 名前", "x/sessions", "/lead", "tail/"]


def _path(user_id: str, part: str = "") -> str:
    return f"/v1/users/{quote(user_id, safe='')}" + (f"/{part}" if part else "")


@pytest.fixture
async def sessions_of_each_user(api: Harness) -> dict[str, str]:
    """One session per user, with an outcome naming the user; the session id by user."""
    ids = {}
    for n, user in enumerate(USERS):
        session_id = f"s{n}"
        r = await api.post("/v1/sessions", {"id": session_id, "user_id": user, "kind": "lesson"})
        assert r.status_code == 201, r.text
        r = await api.put(f"/v1/sessions/{session_id}/outcome", {"tags": {"who": [user]}})
        assert r.status_code == 200, r.text
        ids[user] = session_id
        api.advance(60)
    return ids


async def test_each_user_is_reached_by_its_encoded_id(
    api: Harness, sessions_of_each_user: dict[str, str]
) -> None:
    for user, session_id in sessions_of_each_user.items():
        r = await api.get(_path(user, "sessions"), scope="read")
        assert r.status_code == 200, (user, r.text)
        items = r.json()["items"]
        assert [(s["id"], s["user_id"]) for s in items] == [(session_id, user)], user
        assert items[0]["outcome"]["tags"] == {"who": [user]}
        stats = await api.get(_path(user, "stats"), scope="read")
        assert stats.status_code == 200 and stats.json()["user_id"] == user
        assert stats.json()["current"]["sessions"] == 1
        recap = await api.get(_path(user, "recap"), scope="read")
        assert recap.status_code == 200 and recap.json()["user_id"] == user
        assert recap.json()["last_session"]["id"] == session_id
        export = await api.get(_path(user, "export"), scope="read")
        assert export.status_code == 200
        document = json.loads(export.text)
        assert document["user_id"] == user
        assert [s["id"] for s in document["sessions"]] == [session_id]


async def test_a_user_id_is_exactly_one_segment(
    api: Harness, sessions_of_each_user: dict[str, str]
) -> None:
    """An unencoded "/" separates segments: no path names two users, and every method a path
    offers belongs to that path's one meaning (what the Allow header of a 405 says)."""
    r = await api.get("/v1/users/team/alice/sessions", scope="read")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await api.get("/v1/users/x/sessions/sessions", scope="read")
    assert r.status_code == 404
    r = await api.get("/v1/users/team/stats", scope="read")  # the user "team", no other
    assert r.json()["user_id"] == "team" and r.json()["current"]["sessions"] == 1
    # A DELETE of a user's sessions path is no erasure of a user named "…/sessions".
    r = await api.client.delete("/v1/users/team/sessions", headers=api.auth())
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    r = await api.client.delete("/v1/users/team%2Fsessions/sessions", headers=api.auth())
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    for user in ("team", "team/sessions"):
        assert len((await api.get(_path(user, "sessions"), scope="read")).json()["items"]) == (
            1 if user == "team" else 0
        )
    # Lower-case escapes are the same bytes.
    r = await api.get("/v1/users/team%2falice/sessions", scope="read")
    assert [s["user_id"] for s in r.json()["items"]] == ["team/alice"]


async def test_erasing_a_user_with_a_slash_erases_that_user_only(
    api: Harness, sessions_of_each_user: dict[str, str]
) -> None:
    r = await api.client.delete(_path("team/alice"), headers=api.auth())
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == "team/alice" and r.json()["erased"]["sessions"] == 1
    assert (await api.get(f"/v1/sessions/{sessions_of_each_user['team/alice']}")).status_code == 404
    for user in USERS:
        if user != "team/alice":
            items = (await api.get(_path(user, "sessions"), scope="read")).json()["items"]
            assert len(items) == 1, user
    r = await api.client.delete(_path("ünï/cødé 名前"), headers=api.auth("read"))
    assert r.status_code == 403


async def test_an_empty_user_id_names_no_path(api: Harness) -> None:
    r = await api.get("/v1/users//sessions", scope="read")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
