"""Session lifecycle endpoints: start, heartbeat, end, read, list."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from sessionkeeper.api.deps import IngestOrReadScope, IngestScope, ReadScope, ServicesDep
from sessionkeeper.api.fields import (
    KIND_PATTERN,
    MAX_SOURCE_CHARS,
    MAX_TEXT_CHARS,
    TEXT_PATTERN,
    Attributes,
    ClientTime,
    Kind,
    Label,
    SessionId,
    UserId,
    WriteBody,
    ms_or_none,
)
from sessionkeeper.api.openapi import problems
from sessionkeeper.api.responses import SessionOut
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.domain.ids import is_stored_session_id
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.listing import Cursor, SessionFilter
from sessionkeeper.domain.session import Session
from sessionkeeper.errors import InvalidInput
from sessionkeeper.services.sessions import StartRequest

router = APIRouter(prefix="/v1", tags=["sessions"], route_class=StrictJSONRoute)

MAX_PAGE = 500
MAX_BATCH = 1000
MAX_CURSOR_CHARS = 1024
MAX_MS = 2**53  # beyond any date the API can express, well inside BIGINT


def session_response(session: Session, status_code: int = 200) -> Response:
    """The session as JSON, serialised once.

    Returning a model would make FastAPI validate it again against ``response_model``; on
    the heartbeat path that second pass is a noticeable share of the request.
    """
    body = SessionOut.of(session).model_dump_json().encode()
    return Response(body, status_code=status_code, media_type="application/json")


class SessionStart(WriteBody):
    id: SessionId | None = None
    user_id: UserId
    kind: Kind
    label: Label | None = None
    attributes: Attributes | None = None
    started_at: ClientTime | None = None


class HeartbeatBody(WriteBody):
    at: ClientTime | None = None
    attributes: Attributes | None = None


class BatchHeartbeat(WriteBody):
    session_id: SessionId
    at: ClientTime | None = None


class HeartbeatBatch(WriteBody):
    heartbeats: Annotated[list[BatchHeartbeat], Field(min_length=1, max_length=MAX_BATCH)]


class SessionEnd(WriteBody):
    at: ClientTime | None = None
    reason: Literal["client", "admin", "cleanup"] = "client"


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


@router.post(
    "/sessions",
    status_code=201,
    response_model=SessionOut,
    responses={
        200: {"model": SessionOut, "description": "A retried start: the session as stored"},
        **problems(409),
    },
)
async def start_session(
    body: SessionStart, principal: IngestScope, services: ServicesDep
) -> Response:
    """Start a session. Repeating a start with the same id and body answers 200 (a retry)."""
    result = await services.sessions.start(
        principal,
        StartRequest(
            id=body.id,
            user_id=body.user_id,
            kind=body.kind,
            label=body.label,
            attributes=body.attributes,
            started_at=ms_or_none(body.started_at),
        ),
    )
    return session_response(result.session, 201 if result.created else 200)


@router.post(
    "/sessions/{session_id}/heartbeat", response_model=SessionOut, responses=problems(404, 409)
)
async def heartbeat_session(
    session_id: str,
    principal: IngestScope,
    services: ServicesDep,
    body: HeartbeatBody | None = None,
) -> Response:
    """Say the session is still going. A closed session answers 409 with the session."""
    body = body or HeartbeatBody()
    session = await services.sessions.heartbeat(
        principal, session_id, at=ms_or_none(body.at), attributes=body.attributes
    )
    return session_response(session)


@router.post("/heartbeats", response_model=BatchResult)
async def heartbeat_batch(
    body: HeartbeatBatch, principal: IngestScope, services: ServicesDep
) -> BatchResult:
    """Up to 1,000 heartbeats in one transaction, with an outcome for each."""
    beats = [(item.session_id, ms_or_none(item.at)) for item in body.heartbeats]
    outcomes = await services.sessions.heartbeat_batch(principal, beats)
    return BatchResult(
        results=[
            BatchOutcome(session_id=sid, outcome=outcome)
            for (sid, _), outcome in zip(beats, outcomes, strict=True)
        ],
        ok=outcomes.count("ok"),
        closed=outcomes.count("closed"),
        not_found=outcomes.count("not_found"),
    )


@router.post("/sessions/{session_id}/end", response_model=SessionOut, responses=problems(404))
async def end_session(
    session_id: str,
    principal: IngestScope,
    services: ServicesDep,
    body: SessionEnd | None = None,
) -> Response:
    """End the session. Ending again returns the same result."""
    body = body or SessionEnd()
    session = await services.sessions.end(
        principal, session_id, at=ms_or_none(body.at), reason=EndReason(body.reason)
    )
    return session_response(session)


@router.get("/sessions/{session_id}", response_model=SessionOut, responses=problems(404))
async def get_session(
    session_id: str, principal: IngestOrReadScope, services: ServicesDep
) -> SessionOut:
    return SessionOut.of(await services.sessions.get(principal, session_id))


def encode_cursor(cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    raw = json.dumps([cursor.started_at, cursor.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None) -> Cursor | None:
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        started_at, session_id = json.loads(raw)
        # Exactly what encode_cursor writes: an int of epoch milliseconds (not a bool, not
        # beyond what the database stores) and a valid session id.
        if type(started_at) is not int or not 0 <= started_at < MAX_MS:
            raise ValueError("cursor time out of range")
        if not isinstance(session_id, str) or not is_stored_session_id(session_id):
            raise ValueError("cursor id malformed")
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("cursor is not one this server issued", field="cursor") from exc
    return Cursor(started_at=started_at, id=session_id)


@router.get("/sessions", response_model=SessionPage)
async def list_sessions(
    principal: ReadScope,
    services: ServicesDep,
    status: Status | None = None,
    kind: Annotated[str | None, Query(pattern=KIND_PATTERN)] = None,
    user_id: Annotated[str | None, Query(max_length=MAX_TEXT_CHARS, pattern=TEXT_PATTERN)] = None,
    label: Annotated[str | None, Query(max_length=MAX_TEXT_CHARS, pattern=TEXT_PATTERN)] = None,
    source: Annotated[str | None, Query(max_length=MAX_SOURCE_CHARS, pattern=TEXT_PATTERN)] = None,
    started_after: Annotated[ClientTime | None, Query()] = None,
    started_before: Annotated[ClientTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
) -> SessionPage:
    """Sessions, newest first. Follow ``next_cursor`` for the next page."""
    where = SessionFilter.of(
        status=status,
        kind=kind,
        user_id=user_id,
        label=label,
        source=source,
        started_after=started_after,
        started_before=started_before,
    )
    page, after = await services.sessions.list(
        principal, where, limit=limit, after=decode_cursor(cursor)
    )
    return SessionPage(items=[SessionOut.of(s) for s in page], next_cursor=encode_cursor(after))
