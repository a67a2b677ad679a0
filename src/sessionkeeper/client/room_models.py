"""Typed results of the rooms API, parsed from its JSON (unknown fields are ignored)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sessionkeeper.client.models import Json, parse_time
from sessionkeeper.client.protocol import EndReason, Status


def _time_or_none(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


def _end_reason(value: str | None) -> EndReason | None:
    return None if value is None else EndReason(value)


@dataclass(frozen=True, slots=True)
class Segment:
    """One attendance of a participant: from a join until it left or timed out."""

    id: str
    status: Status
    end_reason: EndReason | None
    estimated: bool
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    duration_s: float

    @classmethod
    def from_json(cls, data: Json) -> Segment:
        return cls(
            id=data["id"],
            status=Status(data["status"]),
            end_reason=_end_reason(data.get("end_reason")),
            estimated=bool(data.get("estimated", False)),
            started_at=parse_time(data["started_at"]),
            last_seen_at=parse_time(data["last_seen_at"]),
            ended_at=_time_or_none(data.get("ended_at")),
            duration_s=data["duration_s"],
        )


@dataclass(frozen=True, slots=True)
class Participant:
    room_id: str
    user_id: str
    present: bool
    joined_at: datetime
    last_seen_at: datetime
    left_at: datetime | None
    time_present_s: float
    presence_interval_s: float
    segments: tuple[Segment, ...]

    @classmethod
    def from_json(cls, data: Json) -> Participant:
        return cls(
            room_id=data["room_id"],
            user_id=data["user_id"],
            present=bool(data["present"]),
            joined_at=parse_time(data["joined_at"]),
            last_seen_at=parse_time(data["last_seen_at"]),
            left_at=_time_or_none(data.get("left_at")),
            time_present_s=data["time_present_s"],
            presence_interval_s=data["presence_interval_s"],
            segments=tuple(Segment.from_json(s) for s in data["segments"]),
        )


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    kind: str
    label: str | None
    attributes: Mapping[str, Any]
    created_by: str
    status: Status
    end_reason: EndReason | None
    estimated: bool
    created_at: datetime
    last_activity_at: datetime
    inactive_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    presence_interval_s: float
    participant_timeout_s: float
    room_timeout_s: float
    # Only when one room was read; None in listings.
    participants: tuple[Participant, ...] | None = None

    @property
    def is_open(self) -> bool:
        return self.status is Status.ACTIVE

    @classmethod
    def from_json(cls, data: Json) -> Room:
        participants = data.get("participants")
        return cls(
            id=data["id"],
            kind=data["kind"],
            label=data.get("label"),
            attributes=dict(data.get("attributes") or {}),
            created_by=data["created_by"],
            status=Status(data["status"]),
            end_reason=_end_reason(data.get("end_reason")),
            estimated=bool(data.get("estimated", False)),
            created_at=parse_time(data["created_at"]),
            last_activity_at=parse_time(data["last_activity_at"]),
            inactive_at=_time_or_none(data.get("inactive_at")),
            ended_at=_time_or_none(data.get("ended_at")),
            duration_s=data.get("duration_s"),
            presence_interval_s=data["presence_interval_s"],
            participant_timeout_s=data["participant_timeout_s"],
            room_timeout_s=data["room_timeout_s"],
            participants=None
            if participants is None
            else tuple(Participant.from_json(p) for p in participants),
        )


@dataclass(frozen=True, slots=True)
class RoomPage:
    """One page of rooms, newest first; ``next_cursor`` is None on the last page."""

    items: tuple[Room, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Json) -> RoomPage:
        return cls(
            items=tuple(Room.from_json(item) for item in data["items"]),
            next_cursor=data.get("next_cursor"),
        )


@dataclass(frozen=True, slots=True)
class Invite:
    """A new invitation; ``token`` is shown only in this answer."""

    id: str
    room_id: str
    token: str
    url: str
    max_uses: int | None
    expires_at: datetime | None
    expires_with_room: bool

    @classmethod
    def from_json(cls, data: Json) -> Invite:
        return cls(
            id=data["id"],
            room_id=data["room_id"],
            token=data["token"],
            url=data["url"],
            max_uses=data.get("max_uses"),
            expires_at=_time_or_none(data.get("expires_at")),
            expires_with_room=bool(data["expires_with_room"]),
        )


@dataclass(frozen=True, slots=True)
class InviteStatus:
    """What a join with the invitation would meet now. ``reason`` is the problem code a
    join would get (``invite_expired``, ``invite_revoked``, ``invite_used_up``,
    ``room_closed``), ``message`` the same in a sentence for the person invited."""

    valid: bool
    room_id: str
    reason: str | None
    message: str
    uses_left: int | None
    expires_at: datetime | None
    minutes_until_inactive: int | None

    @classmethod
    def from_json(cls, data: Json) -> InviteStatus:
        return cls(
            valid=bool(data["valid"]),
            room_id=data["room_id"],
            reason=data.get("reason"),
            message=data["message"],
            uses_left=data.get("uses_left"),
            expires_at=_time_or_none(data.get("expires_at")),
            minutes_until_inactive=data.get("minutes_until_inactive"),
        )


@dataclass(frozen=True, slots=True)
class CleanupResult:
    """What a cleanup run did for the caller's tenant."""

    rooms_closed: int
    purged: int
    at: datetime
    duration_s: float

    @classmethod
    def from_json(cls, data: Json) -> CleanupResult:
        return cls(
            rooms_closed=data["rooms_closed"],
            purged=data["purged"],
            at=parse_time(data["at"]),
            duration_s=data["duration_s"],
        )


@dataclass(frozen=True, slots=True)
class CleanupRun:
    started_at: datetime
    at: datetime
    duration_s: float
    rooms_closed: int
    purged: int
    error: str | None
    last_success_at: datetime | None


@dataclass(frozen=True, slots=True)
class CleanupStatus:
    last_run: CleanupRun | None
    next_run_at: datetime | None
    interval_s: float
    retention_days: float | None

    @classmethod
    def from_json(cls, data: Json) -> CleanupStatus:
        run = data.get("last_run")
        return cls(
            last_run=None
            if run is None
            else CleanupRun(
                started_at=parse_time(run["started_at"]),
                at=parse_time(run["at"]),
                duration_s=run["duration_s"],
                rooms_closed=run["rooms_closed"],
                purged=run["purged"],
                error=run.get("error"),
                last_success_at=_time_or_none(run.get("last_success_at")),
            ),
            next_run_at=_time_or_none(data.get("next_run_at")),
            interval_s=data["interval_s"],
            retention_days=data.get("retention_days"),
        )
