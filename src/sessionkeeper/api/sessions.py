"""Session lifecycle endpoints: start, heartbeat, end, read, list."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from sessionkeeper.api import heartbeat_route
from sessionkeeper.api.deps import (
    IngestOrReadScope,
    IngestScope,
    ReadScope,
    ServicesDep,
    services_of,
)
from sessionkeeper.api.fields import (
    Attributes,
    ClientTime,
    Kind,
    Label,
    SessionId,
    Subject,
    UserId,
    WriteBody,
    ms_or_none,
)
from sessionkeeper.api.filters import FILTER_PARAMETERS, FILTERS_DOC, session_filter
from sessionkeeper.api.heartbeat_route import HeartbeatBody, HeartbeatOut
from sessionkeeper.api.openapi import problems
from sessionkeeper.api.responses import SessionOut
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.session_fields import end_values
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.domain.ids import is_stored_session_id
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.listing import Cursor, SessionFilter
from sessionkeeper.domain.session import Session
from sessionkeeper.errors import InvalidInput
from sessionkeeper.services.sessions import StartRequest

router = api_router(prefix="/v1", tags=["sessions"], route_class=StrictJSONRoute)

MAX_PAGE = 500
MAX_BATCH = 1000
MAX_CURSOR_CHARS = 1024
MAX_MS = 2**53  # beyond any date the API can express, well inside BIGINT


def session_response(
    session: Session, status_code: int = 200, fields: Mapping[str, Any] | None = None
) -> Response:
    """The session (with the features' ``fields``) as JSON, serialised once.

    Returning a model would make FastAPI validate it again against ``response_model``; on
    the heartbeat path that second pass is a noticeable share of the request.
    """
    return json_response(SessionOut.of(session, **(fields or {})), status_code)


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    body = model.model_dump_json().encode()
    return Response(body, status_code=status_code, media_type="application/json")


class SessionStart(WriteBody):
    id: SessionId | None = None
    user_id: UserId
    kind: Kind
    label: Label | None = None
    attributes: Attributes | None = None
    started_at: ClientTime | None = None
    continues: SessionId | None = Field(
        default=None,
        description="The id of the same user's earlier session that this one continues after "
        "a real gap (the client was silent longer than the timeout)",
    )
    subject: Subject | None = None


class BatchHeartbeat(WriteBody):
    session_id: SessionId
    at: ClientTime | None = None


class HeartbeatBatch(WriteBody):
    heartbeats: Annotated[list[BatchHeartbeat], Field(min_length=1, max_length=MAX_BATCH)]


class SessionEnd(WriteBody):
    # Features' fields (an ``outcome``…) are checked by ``api/session_fields.end_values``;
    # any other unknown field is refused there.
    model_config = ConfigDict(extra="allow")

    at: ClientTime | None = None
    reason: Literal["client", "admin", "cleanup"] = "client"


class SessionPage(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


class BatchOutcome(BaseModel):
    session_id: str
    outcome: Literal["ok", "closed", "not_found"] = Field(
        description="ok: the beat counted (made while the session was alive, also when that "
        "reopened or amended it); closed: it came after a real gap or after the session "
        "ended; not_found: no such session"
    )
    status: Status | None = Field(
        description="The session's status after the whole batch (null when not found)"
    )


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
            continues=body.continues,
            subject=body.subject,
        ),
    )
    return session_response(result.session, 201 if result.created else 200, result.fields)


async def heartbeat_session(
    session_id: str,
    principal: IngestScope,
    request: Request,
    body: HeartbeatBody | None = None,
) -> Response:
    """Say the session is still going. A closed session answers 409 with the session."""
    sessions = services_of(request).sessions
    return await heartbeat_route.answer(sessions, principal, session_id, body or HeartbeatBody())


# Added, not decorated: its route class answers the plain case without FastAPI's layers.
router.add_api_route(
    "/sessions/{session_id}/heartbeat",
    heartbeat_session,
    methods=["POST"],
    response_model=HeartbeatOut,
    responses=problems(404, 409),
    route_class_override=heartbeat_route.HeartbeatRoute,
)


@router.post("/heartbeats", response_model=BatchResult)
async def heartbeat_batch(
    body: HeartbeatBatch, principal: IngestScope, services: ServicesDep
) -> Response:
    """Up to 1,000 heartbeats in one transaction, with an outcome for each."""
    beats = [(item.session_id, ms_or_none(item.at)) for item in body.heartbeats]
    applied = await services.sessions.heartbeat_batch(principal, beats)
    outcomes = [outcome for outcome, _ in applied]
    final = {s.id: s.status.value for _, s in applied if s is not None}
    # The answer in BatchResult's shape, encoded once and by orjson: built as models and
    # validated again by FastAPI, its 1,000 items cost more of the event loop than the beats'
    # writes, and json.dumps takes 15 times orjson's time over them.
    answer = {
        "results": [
            {"session_id": sid, "outcome": outcome, "status": final.get(sid)}
            for (sid, _), outcome in zip(beats, outcomes, strict=True)
        ],
        "ok": outcomes.count("ok"),
        "closed": outcomes.count("closed"),
        "not_found": outcomes.count("not_found"),
    }
    return Response(orjson.dumps(answer), media_type="application/json")


@router.post("/sessions/{session_id}/end", response_model=SessionOut, responses=problems(404))
async def end_session(
    session_id: str,
    principal: IngestScope,
    services: ServicesDep,
    body: SessionEnd | None = None,
) -> Response:
    """End the session. Ending again returns the same result. Fields that features add to
    sessions (an ``outcome``) may come with the end: they are stored in the same transaction,
    also on a session closed already, and one that is refused (422) refuses the end."""
    body = body or SessionEnd()
    given = end_values(body.model_extra, services.sessions.fields)
    session, fields = await services.sessions.end_with_fields(
        principal,
        session_id,
        at=ms_or_none(body.at),
        reason=EndReason(body.reason),
        given=given,
    )
    return session_response(session, fields=fields)


@router.get("/sessions/{session_id}", response_model=SessionOut, responses=problems(404))
async def get_session(
    session_id: str, principal: IngestOrReadScope, services: ServicesDep
) -> Response:
    session, fields = await services.sessions.get_with_fields(principal, session_id)
    return session_response(session, fields=fields)


def encode_cursor(cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    raw = json.dumps([cursor.value, cursor.id], separators=(",", ":")).encode()
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
    return Cursor(value=started_at, id=session_id)


@router.get(
    "/sessions",
    response_model=SessionPage,
    openapi_extra=FILTER_PARAMETERS,
    description="Sessions, newest first. Follow `next_cursor` for the next page. " + FILTERS_DOC,
)
async def list_sessions(
    principal: ReadScope,
    services: ServicesDep,
    where: Annotated[SessionFilter, Depends(session_filter("limit", "cursor"))],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
) -> Response:
    page, after, fields = await services.sessions.list_with_fields(
        principal, where, limit=limit, after=decode_cursor(cursor)
    )
    items = [SessionOut.of(s, **fields[s.id]) for s in page]
    return json_response(SessionPage(items=items, next_cursor=encode_cursor(after)))
