"""Request and response bodies of the rooms API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr

from sessionkeeper.api.fields import (
    TEXT_PATTERN,
    Attributes,
    ClientTime,
    Kind,
    Label,
    SessionId,
    UserId,
    WriteBody,
)
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.times import from_ms, seconds_of
from sessionkeeper.rooms import rules
from sessionkeeper.rooms.cleanup import CleanupResult, CleanupStatus
from sessionkeeper.rooms.invites import InviteStatus, NewInvite
from sessionkeeper.rooms.service import ParticipantView, RoomView

Token = Annotated[StrictStr, Field(min_length=1, max_length=256, pattern=TEXT_PATTERN)]


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


class RoomCreate(WriteBody):
    id: SessionId | None = Field(default=None, description="Made by the server when absent")
    kind: Kind
    label: Label | None = None
    attributes: Attributes | None = None
    created_by: UserId


class JoinBody(WriteBody):
    user_id: UserId
    invite_token: Token | None = Field(
        default=None, description="Join through an invitation: its token"
    )
    at: ClientTime | None = None


class AtBody(WriteBody):
    at: ClientTime | None = None


class InviteCreate(WriteBody):
    max_uses: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = Field(
        default=None, description="How many users may join through it; unlimited when absent"
    )
    expires_at: ClientTime | None = None
    expires_with_room: StrictBool = Field(
        default=True,
        description="Expires once the room is inactive for its room timeout, or has ended",
    )


class SegmentOut(BaseModel):
    """One attendance: from a join until the participant left or timed out."""

    id: str = Field(description="The attendance's session id")
    status: Status
    end_reason: EndReason | None
    estimated: bool
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    duration_s: float

    @classmethod
    def of(cls, segment: rules.Segment) -> SegmentOut:
        state = segment.state
        return cls(
            id=segment.id,
            status=state.status,
            end_reason=state.end_reason,
            estimated=state.estimated,
            started_at=from_ms(state.started_at),
            last_seen_at=from_ms(state.last_seen_at),
            ended_at=_time(state.ended_at),
            duration_s=segment.present_ms / 1000,
        )


class ParticipantOut(BaseModel):
    room_id: str
    user_id: str
    present: bool
    joined_at: datetime
    last_seen_at: datetime
    left_at: datetime | None
    time_present_s: float = Field(description="Over every segment; an open one to last_seen_at")
    presence_interval_s: float = Field(description="How often to send presence")
    segments: list[SegmentOut]

    @classmethod
    def of(cls, room_id: str, presence_interval_ms: int, p: rules.Participant) -> ParticipantOut:
        return cls(
            room_id=room_id,
            user_id=p.user_id,
            present=p.present,
            joined_at=from_ms(p.joined_at),
            last_seen_at=from_ms(p.last_seen_at),
            left_at=_time(p.left_at),
            time_present_s=p.time_present_ms / 1000,
            presence_interval_s=presence_interval_ms / 1000,
            segments=[SegmentOut.of(s) for s in p.segments],
        )

    @classmethod
    def of_view(cls, view: ParticipantView) -> ParticipantOut:
        return cls.of(view.room.id, view.room.presence_interval_ms, view.participant)


class RoomOut(BaseModel):
    id: str
    kind: str
    label: str | None
    attributes: dict[str, Any]
    created_by: str
    status: Status
    end_reason: EndReason | None
    estimated: bool
    created_at: datetime
    last_activity_at: datetime = Field(description="The latest participant activity")
    inactive_at: datetime | None = Field(
        description="When an open room becomes inactive if nobody is seen before"
    )
    ended_at: datetime | None
    duration_s: float | None
    presence_interval_s: float
    participant_timeout_s: float
    room_timeout_s: float
    participants: list[ParticipantOut] | None = Field(
        default=None, description="Every participant; only when one room is read"
    )

    @classmethod
    def of(cls, view: RoomView) -> RoomOut:
        room, state = view.room, view.state
        timing = rules.participant_timing(room.presence_interval_ms)
        return cls(
            id=room.id,
            kind=room.session.kind,
            label=room.session.label,
            attributes=dict(room.session.attributes),
            created_by=room.session.user_id,
            status=state.status,
            end_reason=state.end_reason,
            estimated=state.estimated,
            created_at=from_ms(state.started_at),
            last_activity_at=from_ms(view.last_activity_at),
            inactive_at=_time(view.inactive_at),
            ended_at=_time(state.ended_at),
            duration_s=seconds_of(state.duration_ms),
            presence_interval_s=room.presence_interval_ms / 1000,
            participant_timeout_s=timing.timeout_ms / 1000,
            room_timeout_s=room.room_timeout_ms / 1000,
            participants=None
            if view.participants is None
            else [
                ParticipantOut.of(room.id, room.presence_interval_ms, p) for p in view.participants
            ],
        )


class RoomPage(BaseModel):
    items: list[RoomOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


class InviteOut(BaseModel):
    id: str
    room_id: str
    token: str = Field(description="Shown only now; only its digest is kept")
    url: str
    max_uses: int | None
    expires_at: datetime | None
    expires_with_room: bool

    @classmethod
    def of(cls, made: NewInvite, url: str) -> InviteOut:
        invite = made.invite
        return cls(
            id=invite.id,
            room_id=invite.room_id,
            token=made.token,
            url=url,
            max_uses=invite.max_uses,
            expires_at=_time(invite.expires_at),
            expires_with_room=invite.expires_with_room,
        )


class InviteStatusOut(BaseModel):
    valid: bool
    room_id: str
    reason: str | None = Field(description="Why a join would be refused: the problem's code")
    message: str = Field(description="The same, in a sentence to show to the person invited")
    uses_left: int | None = Field(description="None: unlimited")
    expires_at: datetime | None
    minutes_until_inactive: int | None = Field(
        description="Whole minutes before the room becomes inactive if nobody shows up"
    )

    @classmethod
    def of(cls, status: InviteStatus) -> InviteStatusOut:
        verdict = status.verdict
        return cls(
            valid=verdict.valid,
            room_id=status.invite.room_id,
            reason=None if verdict.refusal is None else verdict.refusal.value,
            message=verdict.message,
            uses_left=status.invite.state.uses_left,
            expires_at=_time(status.invite.expires_at),
            minutes_until_inactive=status.minutes_until_inactive,
        )


class CleanupOut(BaseModel):
    """What a cleanup run did for the caller's tenant."""

    rooms_closed: int
    purged: int
    at: datetime
    duration_s: float

    @classmethod
    def of(cls, result: CleanupResult, principal: Principal) -> CleanupOut:
        return cls(
            rooms_closed=result.closed_for(principal),
            purged=result.purged_for(principal),
            at=from_ms(result.at),
            duration_s=result.duration_s,
        )


class CleanupRun(BaseModel):
    started_at: datetime
    at: datetime = Field(
        description="When it finished; for a tenant's view of the server's run, when it started"
    )
    duration_s: float | None = Field(
        description="null for a tenant's view of the server's run: its length depends on "
        "every tenant's rooms"
    )
    rooms_closed: int = Field(description="Of the caller's tenant")
    purged: int = Field(description="Of the caller's tenant")
    error: str | None
    last_success_at: datetime | None


class CleanupStatusOut(BaseModel):
    last_run: CleanupRun | None
    next_run_at: datetime | None
    interval_s: float
    retention_days: float | None

    @classmethod
    def of(cls, status: CleanupStatus) -> CleanupStatusOut:
        run = status.last_run
        return cls(
            last_run=None
            if run is None
            else CleanupRun(
                started_at=from_ms(run.started_at),
                at=from_ms(run.finished_at),
                duration_s=seconds_of(run.duration_ms),
                rooms_closed=status.closed,
                purged=status.purged,
                error=run.error,
                last_success_at=_time(run.last_success_at),
            ),
            next_run_at=_time(status.next_run_at),
            interval_s=status.interval_s,
            retention_days=status.retention_days,
        )
