"""The rooms API: creating and reading rooms, joining, presence, leaving, ending, listing,
policies, tenant isolation and the events and metrics rooms produce."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sessionkeeper.domain.events import ChangeEvent
from sessionkeeper.rooms.events import ParticipantJoined, ParticipantLeft, RoomClosed, RoomCreated
from tests.support import T0, Harness, iso, ms


async def make_room(api: Harness, room_id: str = "lobby", kind: str = "lobby", **extra: object):
    body = {"id": room_id, "kind": kind, "created_by": "host", **extra}
    response = await api.post("/v1/rooms", body, scope="ingest")
    assert response.status_code == 201, response.text
    return response.json()


async def join(api: Harness, user: str, room_id: str = "lobby", **extra: object):
    return await api.post(f"/v1/rooms/{room_id}/participants", {"user_id": user, **extra})


async def presence(api: Harness, user: str, room_id: str = "lobby"):
    return await api.post(f"/v1/rooms/{room_id}/participants/{user}/presence", {})


def record_events(api: Harness) -> list[ChangeEvent]:
    seen: list[ChangeEvent] = []

    def keep(events: Sequence[ChangeEvent]) -> None:
        seen.extend(events)

    api.runtime.db.writer.subscribers.after_commit.append(keep)
    return seen


async def test_create_is_idempotent_and_refuses_a_different_body(api: Harness) -> None:
    room = await make_room(api, label="Reading room", attributes={"deck": "rider-waite"})
    assert room["status"] == "active" and room["created_by"] == "host"
    assert room["created_at"] == iso(T0).replace("+00:00", "Z")
    assert (room["presence_interval_s"], room["participant_timeout_s"]) == (30, 75)
    assert room["room_timeout_s"] == 3600 and ms(room["inactive_at"]) == T0 + 3_600_000
    assert room["participants"] == []
    body = {
        "id": "lobby",
        "kind": "lobby",
        "created_by": "host",
        "label": "Reading room",
        "attributes": {"deck": "rider-waite"},
    }
    again = await api.post("/v1/rooms", body)
    assert again.status_code == 200 and again.json() == room
    other = await api.post("/v1/rooms", {**body, "label": "Another"})
    assert other.status_code == 409 and other.json()["code"] == "room_exists"
    # A plain session's id is not a room's.
    await api.post("/v1/sessions", {"id": "plain", "user_id": "u", "kind": "lobby"})
    taken = await api.post("/v1/rooms", {**body, "id": "plain"})
    assert taken.status_code == 409 and taken.json()["code"] == "room_exists"
    made = await api.post("/v1/rooms", {"kind": "lobby", "created_by": "host"})
    assert made.status_code == 201 and len(made.json()["id"]) == 26


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "lobby"}, "created_by"),
        ({"created_by": "h"}, "kind"),
        ({"kind": "bad kind", "created_by": "h"}, "kind"),
        ({"kind": "lobby", "created_by": "h", "id": "no spaces"}, "id"),
        ({"kind": "lobby", "created_by": "h", "colour": "red"}, "colour"),
        ({"kind": "lobby", "created_by": ""}, "created_by"),
        # Paths under /v1/sessions/: the room's session could never be read by its id.
        ({"kind": "lobby", "created_by": "h", "id": "stats"}, "id"),
        ({"kind": "lobby", "created_by": "h", "id": "export.csv"}, "id"),
    ],
)
async def test_invalid_rooms_are_422_naming_the_field(api: Harness, body: dict, field: str) -> None:
    response = await api.post("/v1/rooms", body)
    assert response.status_code == 422 and response.json()["field"] == field


async def test_unknown_rooms_and_participants_are_404(api: Harness) -> None:
    for response in (
        await api.get("/v1/rooms/nope"),
        await join(api, "ann", room_id="nope"),
        await presence(api, "ann", room_id="nope"),
        await api.post("/v1/rooms/nope/end", {}),
        await api.post("/v1/rooms/nope/invites", {}),
    ):
        assert response.status_code == 404 and response.json()["code"] == "room_not_found"
    await make_room(api)
    for response in (
        await presence(api, "ann"),
        await api.post("/v1/rooms/lobby/participants/ann/leave", {}),
    ):
        assert response.status_code == 404 and response.json()["code"] == "not_a_participant"


async def test_a_join_while_present_is_the_same_attendance(api: Harness) -> None:
    await make_room(api)
    first = await join(api, "ann")
    assert first.status_code == 201
    api.advance(10)
    second = await join(api, "ann")  # a second tab of the same user
    assert second.status_code == 200
    body = second.json()
    assert [s["id"] for s in body["segments"]] == [first.json()["segments"][0]["id"]]
    assert body["present"] and ms(body["last_seen_at"]) == T0 + 10_000


async def test_presence_keeps_a_participant_and_a_late_one_must_join_again(api: Harness) -> None:
    await make_room(api)
    await join(api, "ann")
    for _ in range(4):
        api.advance(30)
        beat = await presence(api, "ann")
        assert beat.status_code == 200 and beat.json()["present"]
    assert beat.json()["time_present_s"] == 120
    api.advance(76)  # over the participant timeout of 75 s
    late = await presence(api, "ann")
    assert late.status_code == 409 and late.json()["code"] == "not_present"
    closed = late.json()["session"]
    assert closed["status"] == "timed_out" and ms(closed["ended_at"]) == T0 + 135_000
    again = await join(api, "ann")
    assert again.status_code == 201
    segments = again.json()["segments"]
    assert [s["status"] for s in segments] == ["timed_out", "active"]
    assert again.json()["time_present_s"] == 135


async def test_leave_is_exact_and_repeatable(api: Harness) -> None:
    await make_room(api)
    await join(api, "ann")
    api.advance(40)
    left = await api.post("/v1/rooms/lobby/participants/ann/leave", {"at": iso(T0 + 30_000)})
    assert left.status_code == 200
    body = left.json()
    assert not body["present"] and ms(body["left_at"]) == T0 + 30_000
    assert body["segments"][0]["end_reason"] == "client" and body["time_present_s"] == 30
    again = await api.post("/v1/rooms/lobby/participants/ann/leave", {})
    assert again.status_code == 200 and again.json() == body
    gone = await presence(api, "ann")
    assert gone.status_code == 409 and gone.json()["code"] == "not_present"
    room = (await api.get("/v1/rooms/lobby")).json()
    assert ms(room["last_activity_at"]) == T0 + 30_000


async def test_a_late_leave_within_the_deadline_amends_a_timed_out_attendance(
    api: Harness,
) -> None:
    """As a late end of any session: the leave names a time before the attendance's deadline
    (75 s), so the attendance ends there, exactly, instead of at its estimated end."""
    await make_room(api)
    joined = await join(api, "ann")
    attendance = joined.json()["segments"][0]["id"]
    api.advance(80)
    assert (await api.post("/v1/maintenance/sweep")).json()["closed"] >= 1
    swept = (await api.get(f"/v1/sessions/{attendance}")).json()
    assert (swept["status"], swept["amended_count"]) == ("timed_out", 0)
    left = await api.post("/v1/rooms/lobby/participants/ann/leave", {"at": iso(T0 + 60_000)})
    assert left.status_code == 200
    segment = left.json()["segments"][0]
    assert (segment["status"], segment["end_reason"]) == ("ended", "client")
    assert ms(segment["ended_at"]) == T0 + 60_000 and left.json()["time_present_s"] == 60
    amended = (await api.get(f"/v1/sessions/{attendance}")).json()
    assert (amended["amended_count"], amended["estimated"]) == (1, False)
    # A leave past the deadline is no evidence of presence: the timeout stands.
    await join(api, "bob")
    api.advance(80)
    late = await api.post("/v1/rooms/lobby/participants/bob/leave", {})
    bob = late.json()["segments"][0]
    assert (bob["status"], bob["end_reason"]) == ("timed_out", "timeout")


async def test_user_ids_with_slashes_reach_their_participant(api: Harness) -> None:
    await make_room(api)
    assert (await join(api, "team/ann")).status_code == 201
    beat = await api.post("/v1/rooms/lobby/participants/team%2Fann/presence", {})
    assert beat.status_code == 200 and beat.json()["user_id"] == "team/ann"


async def test_end_closes_the_room_and_every_attendance(api: Harness) -> None:
    await make_room(api)
    events = record_events(api)
    await join(api, "ann")
    await join(api, "bob")
    api.advance(60)
    await presence(api, "ann")  # bob is silent: over his timeout by the end
    api.advance(20)
    ended = await api.post("/v1/rooms/lobby/end", {})
    assert ended.status_code == 200
    room = ended.json()
    assert (room["status"], room["end_reason"], room["duration_s"]) == ("ended", "client", 80)
    assert room["inactive_at"] is None
    by_user = {p["user_id"]: p for p in room["participants"]}
    assert by_user["ann"]["segments"][0]["end_reason"] == "client"
    assert ms(by_user["ann"]["left_at"]) == T0 + 80_000
    assert by_user["bob"]["segments"][0]["status"] == "timed_out"
    assert ms(by_user["bob"]["left_at"]) == T0 + 15_000
    assert (await api.post("/v1/rooms/lobby/end", {})).json() == room
    refused = await join(api, "cat")
    assert refused.status_code == 409 and refused.json()["code"] == "room_closed"
    assert refused.json()["session"]["id"] == "lobby"
    assert refused.json()["session"]["status"] == "ended"
    left = {(e.user_id, e.reason.value) for e in events if isinstance(e, ParticipantLeft)}
    assert left == {("ann", "room_ended"), ("bob", "timeout")}
    closed = [e for e in events if isinstance(e, RoomClosed)]
    assert [(e.room_id, e.reason.value, e.ended_at) for e in closed] == [
        ("lobby", "client", T0 + 80_000)
    ]


async def test_a_room_ended_through_the_sessions_api_is_a_room_closed(api: Harness) -> None:
    await make_room(api)
    events = record_events(api)
    await api.post("/v1/sessions/lobby/end", {})
    await api.post("/v1/sessions", {"id": "other", "user_id": "u", "kind": "lobby"})
    await api.post("/v1/sessions/other/end", {})
    closed = [e for e in events if isinstance(e, RoomClosed)]
    assert [(e.room_id, e.status.value) for e in closed] == [("lobby", "ended")]
    assert (await join(api, "ann")).json()["code"] == "room_closed"


async def test_a_room_ended_through_the_sessions_api_closes_its_attendances(
    api_any: Harness,
) -> None:
    """As ``POST /v1/rooms/{id}/end`` does: no participant stays present, or beating, in a
    room that ended (time present never runs past the room's end)."""
    api = api_any
    await make_room(api)
    attendance = (await join(api, "hal")).json()["segments"][0]["id"]
    events = record_events(api)
    api.advance(10)
    ended = await api.post("/v1/sessions/lobby/end", {})
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    api.advance(5)
    beat = await api.post(f"/v1/sessions/{attendance}/heartbeat", {})
    assert beat.status_code == 409, beat.text
    room = (await api.get("/v1/rooms/lobby")).json()
    (hal,) = room["participants"]
    assert not hal["present"] and hal["time_present_s"] == 10
    assert room["status"] == "ended" and room["ended_at"] == ended.json()["ended_at"]
    left = [(e.user_id, e.reason.value) for e in events if isinstance(e, ParticipantLeft)]
    assert left == [("hal", "room_ended")]
    assert [e.room_id for e in events if isinstance(e, RoomClosed)] == ["lobby"]


async def test_every_change_is_an_event_and_a_metric(api: Harness) -> None:
    events = record_events(api)
    await make_room(api)
    await join(api, "ann")
    await join(api, "bob")
    await api.post("/v1/rooms/lobby/participants/ann/leave", {})
    api.advance(100)
    await api.post("/v1/maintenance/sweep")  # bob timed out by the kernel's sweep
    names = [e.name for e in events if isinstance(e, RoomCreated | ParticipantJoined)]
    assert names == ["room.created", "participant.joined", "participant.joined"]
    left = [(e.user_id, e.reason.value) for e in events if isinstance(e, ParticipantLeft)]
    assert left == [("ann", "client"), ("bob", "timeout")]
    text = (await api.client.get("/metrics")).text
    assert 'sessionkeeper_rooms_created_total{kind="lobby"} 1.0' in text
    assert 'sessionkeeper_participants_joined_total{kind="lobby"} 2.0' in text
    assert 'sessionkeeper_participants_left_total{kind="lobby",reason="client"} 1.0' in text
    assert 'sessionkeeper_participants_left_total{kind="lobby",reason="timeout"} 1.0' in text


async def test_the_kinds_policy_times_participants_and_rooms(api: Harness) -> None:
    policy = await api.put("/v1/policies/quiz", {"presence_interval_s": 10, "room_timeout_s": 600})
    assert policy.status_code == 200
    assert (policy.json()["presence_interval_s"], policy.json()["room_timeout_s"]) == (10, 600)
    room = await make_room(api, "quiz-1", kind="quiz")
    assert (room["participant_timeout_s"], room["room_timeout_s"]) == (25, 600)
    await join(api, "ann", room_id="quiz-1")
    # A changed policy reaches the open room and its attendances as it reaches sessions:
    # the room at once, an attendance's timeout from its next presence on.
    await api.put("/v1/policies/quiz", {"presence_interval_s": 20, "room_timeout_s": 1200})
    api.advance(20)
    assert (await presence(api, "ann", room_id="quiz-1")).status_code == 200
    api.advance(45)  # past the old participant timeout of 25 s, within the new 50 s
    beat = await presence(api, "ann", room_id="quiz-1")
    assert beat.status_code == 200 and beat.json()["presence_interval_s"] == 20
    room = (await api.get("/v1/rooms/quiz-1")).json()
    assert (room["participant_timeout_s"], room["room_timeout_s"]) == (50, 1200)
    assert ms(room["inactive_at"]) == T0 + 65_000 + 1_200_000
    session = (await api.get(f"/v1/sessions/{beat.json()['segments'][0]['id']}")).json()
    assert ms(session["expires_at"]) - ms(session["last_seen_at"]) == 50_000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"presence_interval_s": 0.5}, "presence_interval_s"),
        ({"presence_interval_s": 60, "room_timeout_s": 30}, "room_timeout_s"),
        ({"room_timeout_s": "long"}, "room_timeout_s"),
    ],
)
async def test_inconsistent_room_policies_are_422(api: Harness, body: dict, field: str) -> None:
    response = await api.put("/v1/policies/quiz", body)
    assert response.status_code == 422 and response.json()["field"] == field


async def test_listing_filters_and_pages(api: Harness) -> None:
    for n in range(5):
        await make_room(api, f"r{n}", kind="quiz" if n % 2 else "lobby")
        api.advance(1)
    await join(api, "ann", room_id="r1")
    await join(api, "ann", room_id="r4")
    await api.post("/v1/rooms/r2/end", {})
    api.advance(3598)  # r0, made at T0, has had no activity for over an hour now

    async def ids(**params: object) -> list[str]:
        response = await api.get("/v1/rooms", scope="read", **params)
        assert response.status_code == 200, response.text
        return [room["id"] for room in response.json()["items"]]

    assert await ids() == ["r4", "r3", "r2", "r1", "r0"]
    assert await ids(kind="quiz") == ["r3", "r1"]
    assert await ids(user_id="ann") == ["r4", "r1"]
    assert await ids(status="ended") == ["r2"]
    assert await ids(status="expired") == ["r0"]  # inactive, not yet cleaned up: shown so
    assert await ids(status="active") == ["r4", "r3", "r1"]
    assert await ids(active_since=iso(T0 + 1_000)) == ["r4", "r3", "r2", "r1"]
    page = (await api.get("/v1/rooms", limit=2)).json()
    assert [r["id"] for r in page["items"]] == ["r4", "r3"]
    assert all(r["participants"] is None for r in page["items"])
    rest = (await api.get("/v1/rooms", limit=10, cursor=page["next_cursor"])).json()
    assert [r["id"] for r in rest["items"]] == ["r2", "r1", "r0"] and rest["next_cursor"] is None
    bad = await api.get("/v1/rooms", cursor="nonsense")
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"


async def test_a_read_never_shows_an_inactive_room_open(api: Harness) -> None:
    await make_room(api)
    await join(api, "ann")
    api.advance(3600 + 16)  # ann timed out at 15 s; the room is silent for over an hour
    room = (await api.get("/v1/rooms/lobby")).json()
    assert (room["status"], room["end_reason"], room["estimated"]) == ("expired", "cleanup", True)
    assert ms(room["ended_at"]) == T0 + 15_000 and room["inactive_at"] is None
    assert room["participants"][0]["present"] is False
    # Whoever notices first closes it: a join does, and is refused.
    refused = await join(api, "bob")
    assert refused.status_code == 409 and refused.json()["code"] == "room_closed"
    assert refused.json()["session"]["status"] == "expired"


async def test_tenants_never_see_each_others_rooms(api: Harness) -> None:
    await make_room(api)
    await join(api, "ann")
    invite = (await api.post("/v1/rooms/lobby/invites", {})).json()
    api.services.tenants.create_tenant("other")
    key = api.new_key("other", "admin")
    headers = {"Authorization": f"Bearer {key}"}
    client = api.client
    assert (await client.get("/v1/rooms/lobby", headers=headers)).status_code == 404
    assert (await client.get("/v1/rooms", headers=headers)).json()["items"] == []
    joined = await client.post(
        "/v1/rooms/lobby/participants", json={"user_id": "eve"}, headers=headers
    )
    assert joined.status_code == 404
    inspected = await client.get(f"/v1/invites/{invite['token']}", headers=headers)
    assert inspected.status_code == 404 and inspected.json()["code"] == "invite_not_found"
    revoked = await client.delete(f"/v1/invites/{invite['id']}", headers=headers)
    assert revoked.status_code == 404
    # Their own room of the same id is theirs alone.
    made = await client.post(
        "/v1/rooms", json={"id": "lobby", "kind": "k", "created_by": "eve"}, headers=headers
    )
    assert made.status_code == 201 and made.json()["participants"] == []
    api.advance(7200)
    cleaned = await client.post("/v1/maintenance/cleanup", headers=headers)
    assert cleaned.json()["rooms_closed"] == 1  # theirs; ours is not counted for them
    status = (await client.get("/v1/maintenance/cleanup", headers=headers)).json()
    assert status["last_run"]["rooms_closed"] == 1
    # Their cleanup closed nothing of ours, and we see no trace of it; our own does.
    assert (await api.get("/v1/maintenance/cleanup")).json()["last_run"] is None
    assert (await api.post("/v1/maintenance/cleanup")).json()["rooms_closed"] == 1
    ours = (await api.get("/v1/maintenance/cleanup")).json()
    assert ours["last_run"]["rooms_closed"] == 1


async def test_scopes(api: Harness) -> None:
    made = await api.post("/v1/rooms", {"id": "x", "kind": "k", "created_by": "h"}, scope="read")
    assert made.status_code == 403
    await make_room(api)
    assert (await api.get("/v1/rooms/lobby", scope="read")).status_code == 200
    assert (await api.get("/v1/rooms/lobby", scope="ingest")).status_code == 200
    assert (await api.get("/v1/rooms", scope="ingest")).status_code == 403
    assert (await api.post("/v1/maintenance/cleanup", scope="ingest")).status_code == 403
    assert (await api.get("/v1/maintenance/cleanup", scope="read")).status_code == 200
    assert (await api.client.get("/v1/rooms/lobby")).status_code == 401


async def test_a_policy_change_brings_back_no_room_that_read_as_expired(api_any: Harness) -> None:
    """A room inactive when its policy changes already read as expired: it is closed first,
    under the timing it went quiet with, as the cleanup would have closed it. A longer room
    timeout must not reopen it, revive its invitation or let anyone join."""
    api = api_any
    policy = {"heartbeat_interval_s": 1, "presence_interval_s": 1, "room_timeout_s": 3}
    assert (await api.put("/v1/policies/rk", policy)).status_code == 200
    await make_room(api, "quiet", kind="rk")
    await make_room(api, "busy", kind="rk")
    assert (await join(api, "dan", room_id="quiet")).status_code == 201
    invite = await api.post("/v1/rooms/quiet/invites", {}, scope="ingest")
    token = invite.json()["token"]
    api.advance(2)
    assert (await join(api, "eve", room_id="busy")).status_code == 201  # busy stays alive
    api.advance(2)
    before = (await api.get("/v1/rooms/quiet")).json()
    assert before["status"] == "expired"
    longer = {**policy, "room_timeout_s": 600}
    assert (await api.put("/v1/policies/rk", longer)).status_code == 200
    after = (await api.get("/v1/rooms/quiet")).json()
    assert (after["status"], after["ended_at"]) == (before["status"], before["ended_at"])
    assert after["participants"] == before["participants"]
    assert not (await api.get(f"/v1/invites/{token}", scope="read")).json()["valid"]
    assert (await join(api, "fay", room_id="quiet")).json()["code"] == "room_closed"
    # The room still alive takes the new timing: 600 s of quiet are allowed it now.
    api.advance(60)
    assert (await api.get("/v1/rooms/busy")).json()["status"] == "active"


async def test_an_end_dated_before_the_last_activity_ends_the_room_then(api: Harness) -> None:
    """As a session's end is never before its last heartbeat, a room's is never before its
    participants were last seen: nobody's attendance outlasts the room."""
    await make_room(api)
    await join(api, "ann")
    api.advance(30)
    await presence(api, "ann")
    api.advance(5)
    ended = await api.post("/v1/rooms/lobby/end", {"at": iso(T0)})  # 35 s ago
    assert ended.status_code == 200, ended.text
    room = ended.json()
    assert ms(room["ended_at"]) == T0 + 30_000 and room["duration_s"] == 30
    [ann] = room["participants"]
    assert ms(ann["left_at"]) == T0 + 30_000


async def test_nobody_joins_before_the_room_existed(api: Harness) -> None:
    await make_room(api)
    joined = await join(api, "ann", at=iso(T0 - 30_000))  # a clock behind the creator's
    assert joined.status_code == 201, joined.text
    room = (await api.get("/v1/rooms/lobby", scope="read")).json()
    [ann] = room["participants"]
    assert ms(ann["joined_at"]) == T0 == ms(room["created_at"])
