"""Response bodies shared by several routers: the session, and the problem of every error."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self, cast

from pydantic import BaseModel, ConfigDict, Field

from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.session import Session
from sessionkeeper.domain.times import from_ms


class SessionOut(BaseModel):
    # Features add fields of their own (``feature.SessionField``, e.g. ``outcome``), given to
    # ``of`` by name; ``api/session_fields.py`` describes them in the OpenAPI document.
    model_config = ConfigDict(extra="allow")

    id: str
    user_id: str
    kind: str
    label: str | None
    source: str | None
    attributes: dict[str, Any]
    subject: dict[str, str] = Field(description="Filterable ids the session is about")
    status: Status
    end_reason: EndReason | None
    estimated: bool
    started_at: datetime
    last_seen_at: datetime
    expires_at: datetime | None = Field(description="When an active session times out")
    timeout_s: float = Field(
        description="The timeout of the policy in force: a heartbeat keeps the session open "
        "this long. (expires_at can be later: after the service's own outage, a session is "
        "held open a full timeout from the moment it was back.)"
    )
    ended_at: datetime | None
    duration_s: float | None = Field(description="ended_at - started_at, once closed")
    duration_bounds_s: tuple[float, float] | None = Field(
        description="[low, high]: where the true duration lies, once closed. Equal for an "
        "exact end; for an estimated one, from the last heartbeat to when the next was due "
        "(beats sent on schedule); for lost presence, between the two snapshots around the end"
    )
    continues: str | None = Field(
        description="The earlier session of the same user that this one continues after a gap"
    )
    amended_count: int = Field(
        description="How often late evidence corrected this session after it timed out"
    )
    amended_at: datetime | None = Field(description="When it was last corrected")

    @classmethod
    def of(cls, session: Session, **extra: Any) -> Self:
        """The session as sent; ``extra`` fills the fields a subclass or a feature adds.

        Built without validation: every value comes from a stored session, already of its
        field's type, and validating them again is a noticeable share of a heartbeat."""
        built = cls.model_construct(**cls.fields_of(session), **extra)
        return cast(Self, built)  # the pydantic plugin types model_construct by the base

    @staticmethod
    def fields_of(session: Session) -> dict[str, Any]:
        """The values of this model's fields for ``session``, in the model's order."""
        active = session.status is Status.ACTIVE
        bounds = session.duration_bounds_ms
        return {
            "id": session.id,
            "user_id": session.user_id,
            "kind": session.kind,
            "label": session.label,
            "source": session.source,
            "attributes": dict(session.attributes),
            "subject": dict(session.subject),
            "status": session.status,
            "end_reason": session.end_reason,
            "estimated": session.estimated,
            "started_at": from_ms(session.started_at),
            "last_seen_at": from_ms(session.last_seen_at),
            "expires_at": from_ms(session.expires_at) if active else None,
            "timeout_s": session.timeout_ms / 1000,
            "ended_at": None if session.ended_at is None else from_ms(session.ended_at),
            "duration_s": None if session.duration_ms is None else session.duration_ms / 1000,
            "duration_bounds_s": None if bounds is None else (bounds[0] / 1000, bounds[1] / 1000),
            "continues": session.continues,
            "amended_count": session.amended_count,
            "amended_at": None if session.amended_at is None else from_ms(session.amended_at),
        }


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error body of this API."""

    type: str
    title: str
    status: int
    detail: str
    code: str | None = Field(
        default=None, description="A stable name of the exact case, for clients to branch on"
    )
    field: str | None = Field(default=None, description="The (first) field that was refused")
    errors: list[FieldError] | None = Field(
        default=None, description="Every refused field, for invalid input"
    )
    session: SessionOut | None = None
    request_id: str | None = Field(
        default=None, description="The id of this request (also in X-Request-ID), for support"
    )
