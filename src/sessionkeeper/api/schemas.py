"""Request and response bodies of the session API.

Write bodies reject unknown fields (a typo must not be silently dropped) and strings are not
coerced from numbers. Times are ISO 8601 with a UTC offset; a time without one is refused.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
)

from sessionkeeper.domain.ids import SESSION_ID_PATTERN
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.session import Session
from sessionkeeper.domain.times import from_ms

KIND_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
# Free text may hold anything but NUL, which PostgreSQL cannot store in a text column.
TEXT_PATTERN = r"^[^\x00]*$"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_string_only(value: object) -> object:
    """Times are ISO 8601 strings; a bare number would be guessed as seconds or milliseconds."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date-time string with a UTC offset")
    return value


def _encodable(value: str) -> str:
    """Lone surrogates have no UTF-8 form: stored, they could never be sent back."""
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    return value


ClientTime = Annotated[AwareDatetime, BeforeValidator(_iso_string_only)]
SessionId = Annotated[StrictStr, Field(pattern=SESSION_ID_PATTERN, examples=["game-42"])]
UserId = Annotated[
    StrictStr,
    Field(min_length=1, max_length=256, pattern=TEXT_PATTERN, examples=["user-1"]),
    AfterValidator(_encodable),
]
Kind = Annotated[StrictStr, Field(pattern=KIND_PATTERN, examples=["game"])]
Label = Annotated[
    StrictStr,
    Field(min_length=1, max_length=256, pattern=TEXT_PATTERN, examples=["Minecraft"]),
    AfterValidator(_encodable),
]
MAX_ATTRIBUTES_BYTES = 64 * 1024
MAX_ATTRIBUTES_DEPTH = 32


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _storable(value: dict[str, Any]) -> dict[str, Any]:
    """Attributes that can be stored and sent back unchanged: encodable as UTF-8 JSON,
    finite numbers, bounded in depth and size. Anything else would be acknowledged and then
    fail on every later read."""
    if _depth(value) > MAX_ATTRIBUTES_DEPTH:
        raise ValueError(f"attributes nest deeper than {MAX_ATTRIBUTES_DEPTH} levels")
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"attributes are not storable JSON: {exc}") from exc
    if len(encoded) > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes are larger than {MAX_ATTRIBUTES_BYTES} bytes as JSON")
    return value


Attributes = Annotated[dict[str, Any], Field(max_length=100), AfterValidator(_storable)]


class WriteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionStart(WriteBody):
    id: SessionId | None = None
    user_id: UserId
    kind: Kind
    label: Label | None = None
    attributes: Attributes | None = None
    started_at: ClientTime | None = None


class Heartbeat(WriteBody):
    at: ClientTime | None = None
    attributes: Attributes | None = None


class BatchHeartbeat(WriteBody):
    session_id: SessionId
    at: ClientTime | None = None


class HeartbeatBatch(WriteBody):
    heartbeats: Annotated[list[BatchHeartbeat], Field(min_length=1, max_length=1000)]


class SessionEnd(WriteBody):
    at: ClientTime | None = None
    reason: Literal["client", "admin", "cleanup"] = "client"


class SessionOut(BaseModel):
    id: str
    user_id: str
    kind: str
    label: str | None
    source: str | None
    attributes: dict[str, Any]
    status: Status
    end_reason: EndReason | None
    estimated: bool
    started_at: datetime
    last_seen_at: datetime
    expires_at: datetime | None = Field(description="When an active session times out")
    ended_at: datetime | None
    duration_s: float | None = Field(description="ended_at - started_at, once closed")

    @classmethod
    def of(cls, session: Session) -> SessionOut:
        active = session.status is Status.ACTIVE
        return cls(
            id=session.id,
            user_id=session.user_id,
            kind=session.kind,
            label=session.label,
            source=session.source,
            attributes=dict(session.attributes),
            status=session.status,
            end_reason=session.end_reason,
            estimated=session.estimated,
            started_at=from_ms(session.started_at),
            last_seen_at=from_ms(session.last_seen_at),
            expires_at=from_ms(session.expires_at) if active else None,
            ended_at=None if session.ended_at is None else from_ms(session.ended_at),
            duration_s=None if session.duration_ms is None else session.duration_ms / 1000,
        )


class SessionPage(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


class BatchOutcome(BaseModel):
    session_id: str
    outcome: Literal["ok", "closed", "not_found"]


class BatchResult(BaseModel):
    results: list[BatchOutcome]
    ok: int
    closed: int
    not_found: int


class SweepOut(BaseModel):
    closed: int
    at: datetime
    duration_s: float


class Problem(BaseModel):
    """RFC 9457 problem details, as every error body of this API."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    session: SessionOut | None = None
