"""The reading room of ``seeds/002``, played on a scripted clock: a lobby of five who join,
send presence every 30 s, leave, crash, lose their network and come back, within and after
the participant timeout; the sweep runs as the server would run it, then the cleanup closes
the silent room. Every participant's time present and the room's duration are checked
against the script, on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.support import T0, Harness, ms

PRESENCE_S = 30
SWEEP_EVERY_S = 15


@dataclass
class Visit:
    """One participant's part in the script: joins at ``joins``, sends presence every 30 s
    up to ``last_presence``, and then leaves at ``leaves`` or, when None, crashes."""

    joins: int
    last_presence: int
    leaves: int | None = None
    # Seconds without presence inside the visit (a network outage), then a join again.
    outage: tuple[int, int] | None = None


@dataclass
class Participant:
    user_id: str
    visits: list[Visit]
    # What the script says: total seconds present, and how many attendance segments.
    time_present_s: float
    segments: int
    actions: list[tuple[int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for visit in self.visits:
            self.actions.append((visit.joins, "join"))
            t = visit.joins + PRESENCE_S
            while t <= visit.last_presence:
                if visit.outage is None or not visit.outage[0] <= t < visit.outage[1]:
                    self.actions.append((t, "presence"))
                t += PRESENCE_S
            if visit.outage is not None:
                self.actions.append((visit.outage[1], "join"))
            if visit.leaves is not None:
                self.actions.append((visit.leaves, "leave"))


LOBBY = [
    # Stays ten minutes and says goodbye.
    Participant("ann", [Visit(0, 600, leaves=610)], time_present_s=610, segments=1),
    # Crashes after 300 s (timed out at its last presence + 15 s of grace), comes back
    # after the timeout into a new attendance, then leaves.
    Participant(
        "bob",
        [Visit(60, 300), Visit(900, 1200, leaves=1210)],
        time_present_s=(315 - 60) + (1210 - 900),
        segments=2,
    ),
    # Loses its network for 60 s (less than the 75 s timeout) and joins again: the same
    # attendance goes on, the gap included.
    Participant(
        "cat",
        [Visit(120, 720, leaves=730, outage=(390, 430))],
        time_present_s=730 - 120,
        segments=1,
    ),
    # Leaves, then comes back ten seconds later: a new segment, the gap not counted; later
    # crashes.
    Participant(
        "dan",
        [Visit(200, 230, leaves=260), Visit(270, 510)],
        time_present_s=(260 - 200) + (525 - 270),
        segments=2,
    ),
    # Comes late, crashes last: the room's last activity is its last presence at 1500 s.
    Participant("eve", [Visit(1020, 1500)], time_present_s=1515 - 1020, segments=1),
]
LAST_ACTIVITY_S = 1500
GRACE_S = 15
ROOM_TIMEOUT_S = 3600


async def play(api: Harness) -> list[tuple[int, str]]:
    """Play the script; returns the joins answered 200 (present still: same attendance)."""
    script = sorted((t, user.user_id, action) for user in LOBBY for t, action in user.actions)
    base = "/v1/rooms/lobby/participants"
    next_sweep = 0
    continued = []
    for t, user_id, action in script:
        while next_sweep <= t:  # the server's sweep, at its interval, before the action
            api.clock.set(T0 + next_sweep * 1000)
            await api.post("/v1/maintenance/sweep")
            next_sweep += SWEEP_EVERY_S
        api.clock.set(T0 + t * 1000)
        if action == "join":
            response = await api.post(base, {"user_id": user_id})
            assert response.status_code in (200, 201), response.text
            if response.status_code == 200:
                continued.append((t, user_id))
        else:
            response = await api.post(f"{base}/{user_id}/{action}", {})
            assert response.status_code == 200, (t, user_id, action, response.text)
    return continued


async def test_the_lobby_of_five(api_any: Harness) -> None:
    api = api_any
    created = await api.post("/v1/rooms", {"id": "lobby", "kind": "reading", "created_by": "ann"})
    assert created.status_code == 201
    # Only cat's join after its outage found it still present.
    assert await play(api) == [(430, "cat")]

    # Just after the last crash: only eve was still there, and she is not shown present
    # once overdue, whether or not the sweep ran.
    api.clock.set(T0 + (LAST_ACTIVITY_S + 76) * 1000)
    room = (await api.get("/v1/rooms/lobby")).json()
    assert room["status"] == "active"
    assert ms(room["last_activity_at"]) == T0 + LAST_ACTIVITY_S * 1000
    assert not any(p["present"] for p in room["participants"])

    # An hour of silence later the cleanup closes the room at its last activity + grace.
    api.clock.set(T0 + (LAST_ACTIVITY_S + ROOM_TIMEOUT_S + 60) * 1000)
    cleaned = await api.post("/v1/maintenance/cleanup")
    assert cleaned.json()["rooms_closed"] == 1
    room = (await api.get("/v1/rooms/lobby")).json()
    assert (room["status"], room["end_reason"], room["estimated"]) == ("expired", "cleanup", True)
    assert room["duration_s"] == LAST_ACTIVITY_S + GRACE_S

    by_user = {p["user_id"]: p for p in room["participants"]}
    assert sorted(by_user) == [p.user_id for p in LOBBY]
    for expected in LOBBY:
        got = by_user[expected.user_id]
        assert got["time_present_s"] == expected.time_present_s, expected.user_id
        assert len(got["segments"]) == expected.segments, expected.user_id
        assert not got["present"]
        assert ms(got["joined_at"]) == T0 + expected.visits[0].joins * 1000
    assert [s["end_reason"] for s in by_user["bob"]["segments"]] == ["timeout", "client"]
    assert [s["end_reason"] for s in by_user["dan"]["segments"]] == ["client", "timeout"]
    assert by_user["cat"]["segments"][0]["end_reason"] == "client"
