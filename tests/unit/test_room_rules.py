"""The rules of rooms, table by table: participant timing, inactivity, closing by cleanup,
what a read shows, and the verdict on an invitation."""

from __future__ import annotations

import pytest

from sessionkeeper.domain import lifecycle as lc
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.rooms import rules
from sessionkeeper.rooms.rules import InviteRefusal, InviteState, RoomState

T0 = 1_000_000_000
HOUR = 3_600_000


def room(last_seen: int = T0, grace: int = 15_000) -> lc.Lifecycle:
    return lc.start(last_seen, timeout_ms=rules.ROOM_SESSION_TIMEOUT_MS, grace_ms=grace)


def attendance(started: int, last_seen: int, timeout: int = 75_000) -> lc.Lifecycle:
    state = lc.start(started, timeout_ms=timeout, grace_ms=15_000)
    return lc.heartbeat(state, last_seen, last_seen)


@pytest.mark.parametrize(
    ("interval_ms", "timeout_ms", "grace_ms"),
    [(30_000, 75_000, 15_000), (1_000, 2_500, 500), (60_000, 150_000, 30_000)],
)
def test_participants_time_out_after_two_missed_intervals_plus_grace(
    interval_ms: int, timeout_ms: int, grace_ms: int
) -> None:
    assert rules.participant_timing(interval_ms) == rules.ParticipantTiming(timeout_ms, grace_ms)


@pytest.mark.parametrize(
    ("marked", "seen", "latest"),
    [(T0, [], T0), (T0, [T0 - 5, T0 - 1], T0), (T0, [T0 + 30_000, T0 + 10], T0 + 30_000)],
)
def test_the_last_activity_is_the_rooms_mark_or_a_later_presence(
    marked: int, seen: list[int], latest: int
) -> None:
    assert rules.last_activity(marked, seen) == latest


@pytest.mark.parametrize(
    ("silence_ms", "inactive", "minutes_left"),
    [
        (0, False, 60),
        (59 * 60_000, False, 1),
        (59 * 60_000 + 1, False, 0),
        (HOUR, False, 0),  # exactly the timeout: not over it yet
        (HOUR + 1, True, 0),
        (61 * 60_000, True, 0),
    ],
)
def test_a_room_is_inactive_once_silent_for_over_its_timeout(
    silence_ms: int, inactive: bool, minutes_left: int
) -> None:
    now = T0 + silence_ms
    assert rules.is_inactive(T0, HOUR, now) is inactive
    assert rules.minutes_until_inactive(T0, HOUR, now) == minutes_left


def test_the_cleanup_closes_an_inactive_room_at_last_activity_plus_grace() -> None:
    last_activity = T0 + 600_000
    closed = rules.close_inactive(room(), last_activity, HOUR, last_activity + HOUR + 1)
    assert (closed.status, closed.end_reason, closed.estimated) == (
        Status.EXPIRED,
        EndReason.CLEANUP,
        True,
    )
    assert closed.ended_at == last_activity + 15_000
    assert closed.last_seen_at == last_activity


@pytest.mark.parametrize(
    "state",
    [
        room(),  # alive: silent for less than the timeout
        lc.end(room(), T0 + 1_000, T0 + 1_000),  # ended by a client: stays as it is
    ],
)
def test_the_cleanup_leaves_live_and_closed_rooms_alone(state: lc.Lifecycle) -> None:
    assert rules.close_inactive(state, T0, HOUR, T0 + HOUR - 1) == state
    if not state.is_active:
        assert rules.close_inactive(state, T0, HOUR, T0 + 10 * HOUR) == state


def test_a_rooms_own_session_never_times_out() -> None:
    assert lc.sweep(room(), T0 + 10 * 365 * 24 * HOUR) == room()


@pytest.mark.parametrize(
    ("last_seen", "now", "status", "ended_at"),
    [
        # Overdue: closed exactly as the sweep would.
        (T0, T0 + 76_000, Status.TIMED_OUT, T0 + 15_000),
        # Not overdue (a participant timeout longer than the room's): its own estimated end.
        (T0, T0 + 10_000, Status.EXPIRED, T0 + 10_000),
        (T0, T0 + 20_000, Status.EXPIRED, T0 + 15_000),
    ],
)
def test_attendances_open_when_their_room_closes_end_by_the_same_rule(
    last_seen: int, now: int, status: Status, ended_at: int
) -> None:
    closed = rules.close_with_room(attendance(T0 - 5_000, last_seen), now)
    assert (closed.status, closed.ended_at, closed.estimated) == (status, ended_at, True)


@pytest.mark.parametrize(
    ("reason", "left"),
    [
        (EndReason.TIMEOUT, rules.LeaveReason.TIMEOUT),
        (EndReason.CLIENT, rules.LeaveReason.CLIENT),
        (EndReason.ADMIN, rules.LeaveReason.CLIENT),
    ],
)
def test_why_a_participant_left(reason: EndReason, left: rules.LeaveReason) -> None:
    assert rules.leave_reason(reason) is left


def test_time_present_sums_every_segment_and_counts_an_open_one_to_its_last_presence() -> None:
    first = lc.end(attendance(T0, T0 + 60_000), T0 + 90_000, T0 + 90_000)  # 90 s
    second = attendance(T0 + 300_000, T0 + 330_000)  # open, seen 30 s in
    other = lc.sweep(attendance(T0, T0), T0 + HOUR)  # timed out: 15 s of grace
    found = rules.participants(
        [
            ("bob", rules.Segment("b2", second)),
            ("bob", rules.Segment("b1", first)),
            ("ann", rules.Segment("a1", other)),
        ]
    )
    ann, bob = found
    assert [s.id for s in bob.segments] == ["b1", "b2"]
    assert bob.time_present_ms == 120_000 and bob.present and bob.left_at is None
    assert bob.joined_at == T0 and bob.last_seen_at == T0 + 330_000
    assert ann.time_present_ms == 15_000 and not ann.present and ann.left_at == T0 + 15_000


def test_a_read_shows_what_the_sweep_and_the_cleanup_would_have_done() -> None:
    seen = [("ann", "a1", attendance(T0, T0 + 30_000, timeout=2 * HOUR))]
    # Silent for over the room timeout: shown closed by cleanup, its attendance with it.
    state, [ann] = rules.as_read(room(), T0 + 30_000, HOUR, seen, T0 + 2 * HOUR)
    assert (state.status, state.ended_at) == (Status.EXPIRED, T0 + 45_000)
    assert ann.segments[0].state.status is Status.EXPIRED and not ann.present
    # Within the room timeout but past the participant's: the participant timed out.
    short = [("ann", "a1", attendance(T0, T0 + 30_000))]
    state, [ann] = rules.as_read(room(), T0 + 30_000, HOUR, short, T0 + 600_000)
    assert state.is_active
    assert ann.segments[0].state.status is Status.TIMED_OUT
    assert ann.left_at == T0 + 45_000


def invite(**changes: object) -> InviteState:
    values: dict[str, object] = {
        "max_uses": None,
        "uses": 0,
        "expires_at": None,
        "expires_with_room": True,
        "revoked": False,
    }
    values.update(changes)
    return InviteState(**values)  # type: ignore[arg-type]


LIVE = RoomState(open=True, ended_by_cleanup=False, last_activity=T0, room_timeout_ms=HOUR)
CLEANED = RoomState(open=False, ended_by_cleanup=True, last_activity=T0, room_timeout_ms=HOUR)
ENDED = RoomState(open=False, ended_by_cleanup=False, last_activity=T0, room_timeout_ms=HOUR)
EXPIRED_MESSAGE = "This invitation has expired: the room has had no activity for over 1 hour."


@pytest.mark.parametrize(
    ("state", "room_state", "now", "refusal", "message"),
    [
        (invite(), LIVE, T0 + 59 * 60_000, None, "This invitation is valid."),
        (invite(), LIVE, T0 + 61 * 60_000, InviteRefusal.EXPIRED, EXPIRED_MESSAGE),
        (invite(), CLEANED, T0 + 61 * 60_000, InviteRefusal.EXPIRED, EXPIRED_MESSAGE),
        (
            invite(),
            ENDED,
            T0 + 1,
            InviteRefusal.EXPIRED,
            "This invitation has expired: the room has ended.",
        ),
        (
            invite(expires_at=T0),
            LIVE,
            T0 + 1,
            InviteRefusal.EXPIRED,
            "This invitation has expired.",
        ),
        (invite(expires_at=T0), LIVE, T0, None, "This invitation is valid."),
        (
            invite(revoked=True),
            LIVE,
            T0,
            InviteRefusal.REVOKED,
            "This invitation has been revoked.",
        ),
        (
            invite(max_uses=2, uses=2),
            LIVE,
            T0,
            InviteRefusal.USED_UP,
            "This invitation has been used up.",
        ),
        (invite(max_uses=2, uses=1), LIVE, T0, None, "This invitation is valid."),
        # Not tied to the room: the invitation holds, the room takes nobody.
        (
            invite(expires_with_room=False),
            ENDED,
            T0,
            InviteRefusal.ROOM_CLOSED,
            "The room of this invitation is closed.",
        ),
        (
            invite(expires_with_room=False),
            LIVE,
            T0 + 2 * HOUR,
            InviteRefusal.ROOM_CLOSED,
            "The room of this invitation is closed.",
        ),
        # Revoked wins over everything else.
        (invite(revoked=True, max_uses=1, uses=1), CLEANED, T0, InviteRefusal.REVOKED, None),
    ],
)
def test_invite_verdicts(
    state: InviteState,
    room_state: RoomState,
    now: int,
    refusal: InviteRefusal | None,
    message: str | None,
) -> None:
    verdict = rules.judge_invite(state, room_state, now)
    assert verdict.refusal is refusal
    assert verdict.valid is (refusal is None)
    if message is not None:
        assert verdict.message == message


def test_a_user_who_joined_through_an_invite_may_use_it_again_when_it_is_used_up() -> None:
    full = invite(max_uses=1, uses=1)
    assert rules.judge_invite(full, LIVE, T0).refusal is InviteRefusal.USED_UP
    assert rules.judge_invite(full, LIVE, T0, used_by_user=True).valid
    assert full.uses_left == 0 and invite().uses_left is None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (3600, "1 hour"),
        (7200, "2 hours"),
        (5400, "1 hour 30 minutes"),
        (1800, "30 minutes"),
        (90, "1 minute 30 seconds"),
        (45, "45 seconds"),
        (86_400, "1 day"),
        (90_061, "1 day 1 hour 1 minute 1 second"),
        (0, "0 seconds"),
    ],
)
def test_durations_in_words(seconds: int, words: str) -> None:
    assert rules.describe_duration(seconds) == words
