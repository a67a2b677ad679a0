"""The rules of rooms, pure: the specification that ``store.py`` carries out in SQL.

A room is a session whose own lifecycle is decided by its participants, not by heartbeats:

- Its session never times out by itself (``ROOM_SESSION_TIMEOUT_MS``), so the kernel's sweep
  never closes it. The room is *inactive* once no participant has been seen for the room
  timeout (``now > last_activity + room_timeout``); whoever notices first (the cleanup, a
  join, a presence, an end) closes it with status ``expired``, end reason ``cleanup`` and the
  estimated end ``last_activity + grace``, as the sweep would close a silent session.
- Each participant's attendance is an ordinary session (the kernel's heartbeats, timeouts,
  estimated ends and sweep). Participant timeouts come from ``presence_interval``: two missed
  intervals plus a grace of half an interval (the unbiased estimate of when a silent
  participant left). A participant who is still present joins again into the same
  attendance; once it has closed (left, timed out) a join starts a new segment.
- Attendances still open when their room closes are closed by the same rule: overdue ones as
  the sweep would, the others at their own estimated end with the room's status.

All times are epoch milliseconds; ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.lifecycle import EndReason, Lifecycle, Status

# A room's own session: it never times out (a hundred years), its participants decide.
ROOM_SESSION_TIMEOUT_MS = 100 * 365 * 24 * 3600 * 1000
# A participant is gone after this many missed presence intervals, plus the grace.
MISSED_PRESENCE_INTERVALS = 2
MS_PER_MINUTE = 60_000


class LeaveReason(StrEnum):
    """Why a participant left (the ``reason`` of ``participant.left``)."""

    CLIENT = "client"
    TIMEOUT = "timeout"
    ROOM_ENDED = "room_ended"


@dataclass(frozen=True, slots=True)
class ParticipantTiming:
    timeout_ms: int
    grace_ms: int


def participant_timing(presence_interval_ms: int) -> ParticipantTiming:
    """Two missed presence intervals plus a grace of half an interval."""
    grace = presence_interval_ms // 2
    return ParticipantTiming(MISSED_PRESENCE_INTERVALS * presence_interval_ms + grace, grace)


def last_activity(marked: int, seen: Iterable[int] = ()) -> int:
    """The latest participant activity: the room's own mark (its creation, then every join,
    presence and leave through the rooms API), or a later presence of one of its attendances
    (an attendance may be heartbeated through the sessions API too)."""
    return max([marked, *seen])


def inactive_at(last_activity: int, room_timeout_ms: int) -> int:
    """The moment a room with no further activity becomes inactive."""
    return last_activity + room_timeout_ms


def is_inactive(last_activity: int, room_timeout_ms: int, now: int) -> bool:
    return now > inactive_at(last_activity, room_timeout_ms)


def minutes_until_inactive(last_activity: int, room_timeout_ms: int, now: int) -> int:
    """Whole minutes left before the room becomes inactive, if nobody shows up (0 at most
    a minute before)."""
    return max(0, (inactive_at(last_activity, room_timeout_ms) - now) // MS_PER_MINUTE)


def close_inactive(
    room: Lifecycle, last_activity: int, room_timeout_ms: int, now: int
) -> Lifecycle:
    """The room at ``now``: closed by cleanup at its estimated end if inactive, else as is.

    The estimated end is the kernel's, taken from the latest participant activity:
    ``last_activity + grace`` (never later than ``now``)."""
    if not room.is_active or not is_inactive(last_activity, room_timeout_ms, now):
        return room
    seen = replace(room, last_seen_at=max(room.last_seen_at, last_activity))
    return close_by_cleanup(seen, now)


def close_by_cleanup(session: Lifecycle, now: int) -> Lifecycle:
    """Closed at the kernel's estimated end, with the status and reason of the cleanup."""
    return replace(
        session,
        status=Status.EXPIRED,
        end_reason=EndReason.CLEANUP,
        ended_at=lifecycle.estimated_end(session, now),
        estimated=True,
    )


def close_with_room(attendance: Lifecycle, now: int) -> Lifecycle:
    """An attendance still open when its room was closed by cleanup: overdue ones close as
    the sweep would, the others at their own estimated end."""
    if not attendance.is_active:
        return attendance
    if lifecycle.is_overdue(attendance, now):
        return lifecycle.sweep(attendance, now)
    return close_by_cleanup(attendance, now)


def leave_reason(end_reason: EndReason) -> LeaveReason:
    """Why a participant left, from how its attendance was closed (not by its room)."""
    return LeaveReason.TIMEOUT if end_reason is EndReason.TIMEOUT else LeaveReason.CLIENT


@dataclass(frozen=True, slots=True)
class Segment:
    """One attendance of a participant, as it stands at the time it was read."""

    id: str
    state: Lifecycle

    @property
    def present_ms(self) -> int:
        """Time present: to the end once closed, to the latest presence while open."""
        state = self.state
        until = state.last_seen_at if state.ended_at is None else state.ended_at
        return until - state.started_at


@dataclass(frozen=True, slots=True)
class Participant:
    """A user in a room across all its attendances, oldest first."""

    user_id: str
    segments: tuple[Segment, ...]

    @property
    def present(self) -> bool:
        return self.segments[-1].state.is_active

    @property
    def joined_at(self) -> int:
        return self.segments[0].state.started_at

    @property
    def last_seen_at(self) -> int:
        return max(segment.state.last_seen_at for segment in self.segments)

    @property
    def left_at(self) -> int | None:
        return None if self.present else self.segments[-1].state.ended_at

    @property
    def time_present_ms(self) -> int:
        return sum(segment.present_ms for segment in self.segments)


def participants(segments: Sequence[tuple[str, Segment]]) -> list[Participant]:
    """Group ``(user_id, segment)`` pairs by user, each user's segments by start."""
    by_user: dict[str, list[Segment]] = {}
    for user_id, segment in segments:
        by_user.setdefault(user_id, []).append(segment)
    return [
        Participant(user, tuple(sorted(found, key=lambda s: (s.state.started_at, s.id))))
        for user, found in sorted(by_user.items())
    ]


class InviteRefusal(StrEnum):
    """Why an invitation cannot be used now (the problem's ``code``)."""

    REVOKED = "invite_revoked"
    EXPIRED = "invite_expired"
    USED_UP = "invite_used_up"
    ROOM_CLOSED = "room_closed"


@dataclass(frozen=True, slots=True)
class InviteState:
    max_uses: int | None
    uses: int
    expires_at: int | None
    expires_with_room: bool
    revoked: bool

    @property
    def uses_left(self) -> int | None:
        return None if self.max_uses is None else max(0, self.max_uses - self.uses)


@dataclass(frozen=True, slots=True)
class RoomState:
    """What an invitation needs to know of its room."""

    open: bool
    ended_by_cleanup: bool
    last_activity: int
    room_timeout_ms: int

    def inactive(self, now: int) -> bool:
        return self.ended_by_cleanup or (
            self.open and is_inactive(self.last_activity, self.room_timeout_ms, now)
        )


@dataclass(frozen=True, slots=True)
class InviteVerdict:
    refusal: InviteRefusal | None
    message: str

    @property
    def valid(self) -> bool:
        return self.refusal is None


USED_UP = InviteVerdict(InviteRefusal.USED_UP, "This invitation has been used up.")


def judge_invite(
    invite: InviteState, room: RoomState, now: int, *, used_by_user: bool = False
) -> InviteVerdict:
    """Whether the invitation lets a user join now, and if not, why, in words.

    A user who joined through it before may use it again (a use is one user), even when it
    has no uses left."""
    if invite.revoked:
        return InviteVerdict(InviteRefusal.REVOKED, "This invitation has been revoked.")
    if invite.expires_at is not None and now > invite.expires_at:
        return InviteVerdict(InviteRefusal.EXPIRED, "This invitation has expired.")
    if invite.expires_with_room and room.inactive(now):
        silence = describe_duration(room.room_timeout_ms // 1000)
        return InviteVerdict(
            InviteRefusal.EXPIRED,
            f"This invitation has expired: the room has had no activity for over {silence}.",
        )
    if invite.expires_with_room and not room.open:
        return InviteVerdict(
            InviteRefusal.EXPIRED, "This invitation has expired: the room has ended."
        )
    if invite.uses_left == 0 and not used_by_user:
        return USED_UP
    if not room.open or room.inactive(now):
        return InviteVerdict(InviteRefusal.ROOM_CLOSED, "The room of this invitation is closed.")
    return InviteVerdict(None, "This invitation is valid.")


_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def describe_duration(seconds: int) -> str:
    """``3600`` as "1 hour", ``5400`` as "1 hour 30 minutes", ``45`` as "45 seconds"."""
    parts = []
    rest = max(0, seconds)
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts) or "0 seconds"


def as_read(
    room: Lifecycle,
    last_activity: int,
    room_timeout_ms: int,
    attendances: Sequence[tuple[str, str, Lifecycle]],
    now: int,
) -> tuple[Lifecycle, list[Participant]]:
    """The room and its participants as the rules have them at ``now``, from ``(user_id,
    attendance id, state)`` as stored: a read never shows an inactive room open, nor an
    overdue participant present, whether or not the cleanup or the sweep ran yet."""
    shown = close_inactive(room, last_activity, room_timeout_ms, now)
    closing = room.is_active and not shown.is_active
    segments = [
        (
            user,
            Segment(sid, close_with_room(state, now) if closing else lifecycle.sweep(state, now)),
        )
        for user, sid, state in attendances
    ]
    return shown, participants(segments)
