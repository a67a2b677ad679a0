"""The errors rooms answer with, each with its machine-readable ``code``."""

from __future__ import annotations

from sessionkeeper.domain.session import Session
from sessionkeeper.errors import Conflict, Gone, NotFound, SessionkeeperError
from sessionkeeper.rooms.rules import InviteRefusal, InviteVerdict
from sessionkeeper.rooms.store import Room


def room_not_found(room_id: str) -> NotFound:
    return NotFound(f"no room '{room_id}'", code="room_not_found")


def room_closed(room: Room) -> Conflict:
    """A closed room takes no participants; the problem carries the room's session."""
    return Conflict(
        f"room '{room.id}' is {room.session.status}; it takes no participants",
        session=room.session,
        code="room_closed",
    )


def not_a_participant(room_id: str, user_id: str) -> NotFound:
    return NotFound(f"'{user_id}' has not joined room '{room_id}'", code="not_a_participant")


def not_present(room_id: str, user_id: str, attendance: Session) -> Conflict:
    return Conflict(
        f"'{user_id}' is no longer present in room '{room_id}' ({attendance.status}); join again",
        session=attendance,
        code="not_present",
    )


def invite_not_found() -> NotFound:
    # Says nothing about any room: a guessed token learns nothing.
    return NotFound("no invitation has this token", code="invite_not_found")


def invite_refused(verdict: InviteVerdict, room: Room) -> SessionkeeperError:
    """410 for an invitation that can no longer be used, 409 for a full one or a closed
    room; the detail is the verdict's sentence, fit to show to the person invited."""
    match verdict.refusal:
        case InviteRefusal.REVOKED | InviteRefusal.EXPIRED:
            return Gone(verdict.message, code=verdict.refusal.value)
        case InviteRefusal.USED_UP:
            return Conflict(verdict.message, code=verdict.refusal.value)
        case _:
            return room_closed(room)
