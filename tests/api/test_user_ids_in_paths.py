"""Any user id can be named in ``/v1/users/{user_id}/…``: sent as one percent-encoded path
segment (``team/alice`` as ``team%2Falice``), also with ``%``, unicode, or a ``/`` followed by
a route's own name. Each path reaches exactly that user's data."""

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


async def test_an_unencoded_slash_names_the_same_user(
    api: Harness, sessions_of_each_user: dict[str, str]
) -> None:
    """A proxy may decode %2F on the way: the id is what lies between /v1/users/ and the
    route's last part, so the decoded path reaches the same user."""
    r = await api.get("/v1/users/team/alice/sessions", scope="read")
    assert [s["user_id"] for s in r.json()["items"]] == ["team/alice"]
    r = await api.get("/v1/users/x/sessions/sessions", scope="read")
    assert [s["user_id"] for s in r.json()["items"]] == ["x/sessions"]
    r = await api.get("/v1/users/team/stats", scope="read")
    assert r.json()["user_id"] == "team"


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


async def test_an_empty_user_id_is_refused(api: Harness) -> None:
    r = await api.get("/v1/users//sessions", scope="read")
    assert r.status_code == 422 and r.json()["field"] == "user_id"
    assert r.headers["content-type"].startswith("application/problem+json")
