"""The change events of rooms, recorded by the writes that make them (and, for attendances
closed by the kernel, derived in the same transaction: see ``subscribers.derive``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sessionkeeper.domain.events import ChangeEvent
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.rooms.rules import LeaveReason


@dataclass(frozen=True, slots=True)
class RoomCreated(ChangeEvent):
    name: ClassVar[str] = "room.created"
    room_id: str
    kind: str
    created_by: str
    created_at: int


@dataclass(frozen=True, slots=True)
class RoomClosed(ChangeEvent):
    """Ended by a client (``client``), or closed by the cleanup once inactive (``cleanup``)."""

    name: ClassVar[str] = "room.closed"
    room_id: str
    kind: str
    status: Status
    reason: EndReason
    ended_at: int


@dataclass(frozen=True, slots=True)
class ParticipantJoined(ChangeEvent):
    """A new attendance began: a first join, or a join after the previous one closed."""

    name: ClassVar[str] = "participant.joined"
    room_id: str
    user_id: str
    kind: str
    attendance_id: str
    joined_at: int


@dataclass(frozen=True, slots=True)
class ParticipantLeft(ChangeEvent):
    name: ClassVar[str] = "participant.left"
    room_id: str
    user_id: str
    kind: str
    attendance_id: str
    reason: LeaveReason
    left_at: int
