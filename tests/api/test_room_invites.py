"""Invitations: every answer a join through one can get, inspection that never uses one,
and tokens that are stored only as digests."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from sessionkeeper.rooms.tables import room_invites
from tests.api.test_rooms import join, make_room, presence
from tests.support import T0, Harness, iso, ms

EXPIRED = "This invitation has expired: the room has had no activity for over 1 hour."


async def invite(api: Harness, room_id: str = "lobby", **body: object) -> dict:
    response = await api.post(f"/v1/rooms/{room_id}/invites", body, scope="ingest")
    assert response.status_code == 201, response.text
    return response.json()


async def inspect(api: Harness, token: str) -> dict:
    response = await api.get(f"/v1/invites/{token}", scope="read")
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_token_is_random_shown_once_and_stored_as_its_digest(api: Harness) -> None:
    await make_room(api)
    made = await invite(api)
    token = made["token"]
    assert token.startswith("inv_") and len(token) >= 4 + 22  # 192 random bits, base64
    assert made["url"] == f"http://sk.test/v1/invites/{token}"
    assert (made["max_uses"], made["expires_at"], made["expires_with_room"]) == (None, None, True)
    with api.runtime.db.write_engine.connect() as conn:
        stored = conn.execute(sa.select(room_invites)).mappings().one()
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(value) for value in stored.values()}
    other = await invite(api)
    assert other["token"] != token and other["id"] != made["id"]


async def test_the_invite_url_follows_the_setting(tmp_path) -> None:
    from tests.support import running_app

    url = f"sqlite:///{tmp_path / 'sk.db'}"
    async with running_app(url, invite_url="https://reading.example/join/{token}") as api:
        await make_room(api)
        made = await invite(api)
        assert made["url"] == f"https://reading.example/join/{made['token']}"


async def test_accepted_after_59_minutes_of_silence_refused_after_61(api: Harness) -> None:
    await make_room(api)
    await join(api, "host")
    await api.post("/v1/rooms/lobby/participants/host/leave", {})
    token = (await invite(api))["token"]
    api.advance(59 * 60)
    status = await inspect(api, token)
    assert status["valid"] and status["minutes_until_inactive"] == 1
    accepted = await join(api, "ann", invite_token=token)
    assert accepted.status_code == 201
    await api.post("/v1/rooms/lobby/participants/ann/leave", {})
    api.advance(61 * 60)
    status = await inspect(api, token)
    assert (status["valid"], status["reason"], status["message"]) == (
        False,
        "invite_expired",
        EXPIRED,
    )
    assert status["minutes_until_inactive"] is None
    refused = await join(api, "bob", invite_token=token)
    assert refused.status_code == 410
    problem = refused.json()
    assert (problem["code"], problem["detail"]) == ("invite_expired", EXPIRED)
    assert refused.headers["content-type"] == "application/problem+json"
    # Refused, and the room was closed by the one who noticed: the join.
    room = (await api.get("/v1/rooms/lobby")).json()
    assert room["status"] == "expired"
    assert ms(room["ended_at"]) == T0 + 59 * 60_000 + 15_000  # ann's leave + grace


async def test_the_timeout_in_the_message_is_the_rooms_own(api: Harness) -> None:
    await api.put("/v1/policies/study", {"room_timeout_s": 5400})
    await make_room(api, "study-1", kind="study")
    token = (await invite(api, "study-1"))["token"]
    api.advance(5401)
    refused = await join(api, "ann", room_id="study-1", invite_token=token)
    assert refused.json()["detail"] == (
        "This invitation has expired: the room has had no activity for over 1 hour 30 minutes."
    )


async def test_every_invite_answer(api: Harness) -> None:
    await make_room(api)
    await join(api, "host")

    unknown = await join(api, "ann", invite_token="inv_guessed")
    assert unknown.status_code == 404 and unknown.json()["code"] == "invite_not_found"
    assert "lobby" not in unknown.json()["detail"]  # reveals nothing about any room
    unknown_get = await api.get("/v1/invites/inv_guessed")
    assert unknown_get.status_code == 404
    assert _problem(unknown_get.json()) == _problem(unknown.json())

    dated = await invite(api, expires_at=iso(T0 + 60_000))
    api.advance(61)
    await presence(api, "host")
    late = await join(api, "ann", invite_token=dated["token"])
    assert (late.status_code, late.json()["code"]) == (410, "invite_expired")
    assert late.json()["detail"] == "This invitation has expired."

    revoked = await invite(api)
    assert (
        await api.client.delete(f"/v1/invites/{revoked['id']}", headers=api.auth())
    ).status_code == 204
    assert (
        await api.client.delete(f"/v1/invites/{revoked['id']}", headers=api.auth())
    ).status_code == 204
    gone = await join(api, "ann", invite_token=revoked["token"])
    assert (gone.status_code, gone.json()["code"]) == (410, "invite_revoked")
    assert (await inspect(api, revoked["token"]))["reason"] == "invite_revoked"
    missing = await api.client.delete("/v1/invites/nope", headers=api.auth())
    assert (missing.status_code, missing.json()["code"]) == (404, "invite_not_found")

    single = await invite(api, max_uses=1)
    assert (await join(api, "ann", invite_token=single["token"])).status_code == 201
    # The same user again (a retry, a second tab) spends nothing more.
    assert (await join(api, "ann", invite_token=single["token"])).status_code == 200
    full = await join(api, "bob", invite_token=single["token"])
    assert (full.status_code, full.json()["code"]) == (409, "invite_used_up")
    assert (await inspect(api, single["token"]))["uses_left"] == 0

    free = await invite(api, expires_with_room=False)
    await api.post("/v1/rooms/lobby/end", {})
    closed = await join(api, "cat", invite_token=free["token"])
    assert (closed.status_code, closed.json()["code"]) == (409, "room_closed")
    assert closed.json()["session"]["status"] == "ended"
    tied = await api.post("/v1/rooms/lobby/invites", {})
    assert tied.status_code == 409 and tied.json()["code"] == "room_closed"
    ended = await join(api, "cat", invite_token=single["token"])
    assert (ended.status_code, ended.json()["code"]) == (410, "invite_expired")
    assert ended.json()["detail"] == "This invitation has expired: the room has ended."


async def test_an_invite_of_another_room_is_unknown_here(api: Harness) -> None:
    await make_room(api, "a")
    await make_room(api, "b")
    token = (await invite(api, "a"))["token"]
    response = await join(api, "ann", room_id="b", invite_token=token)
    assert (response.status_code, response.json()["code"]) == (404, "invite_not_found")


async def test_a_link_scanner_never_spends_an_invite(api: Harness) -> None:
    await make_room(api)
    token = (await invite(api, max_uses=1))["token"]
    for _ in range(20):
        status = await inspect(api, token)
        assert status["valid"] and status["uses_left"] == 1
    assert (await join(api, "ann", invite_token=token)).status_code == 201
    status = await inspect(api, token)
    assert (status["valid"], status["reason"], status["uses_left"]) == (
        False,
        "invite_used_up",
        0,
    )


async def test_invalid_invites_are_422(api: Harness) -> None:
    await make_room(api)
    for body, field in [
        ({"max_uses": 0}, "max_uses"),
        ({"max_uses": "2"}, "max_uses"),
        ({"expires_at": iso(T0 - 1_000)}, "expires_at"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": "9999-12-31T23:59:59-23:59"}, "expires_at"),  # the year 10000 in UTC
        ({"expires_with_room": "yes"}, "expires_with_room"),
        ({"uses": 3}, "uses"),
    ]:
        response = await api.post("/v1/rooms/lobby/invites", body)
        assert response.status_code == 422, body
        assert response.json()["field"] == field


def _problem(body: dict[str, object]) -> dict[str, object]:
    """A problem body without the request id, which names each request."""
    return {name: value for name, value in body.items() if name != "request_id"}
