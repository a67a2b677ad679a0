"""``/v1/me/…``: an end user's own sessions, statistics, recap and data, with their token;
``/v1/users/{user_id}/…``: the same for any user, with an admin or read key.

Both hand the kernel's session services a principal narrowed to one user, so every query is
scoped to that user's rows by ``storage/scope.py``: another user's session is not found.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from sessionkeeper.api.deps import (
    AUTHENTICATES,
    AdminScope,
    ReadScope,
    bearer_token,
    named_tenant,
)
from sessionkeeper.api.errors import PROBLEM_RESPONSES
from sessionkeeper.api.fields import UserId, ms_or_none
from sessionkeeper.api.heartbeat_route import HeartbeatBody, HeartbeatOut, answer
from sessionkeeper.api.openapi import problems
from sessionkeeper.api.path_segments import SegmentRoute
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.sessions import MAX_CURSOR_CHARS, decode_cursor, encode_cursor
from sessionkeeper.domain.ids import KIND_PATTERN
from sessionkeeper.domain.principal import Principal
from sessionkeeper.learning.insight_schemas import RecapOut, UserStatsOut
from sessionkeeper.learning.insights import Insights
from sessionkeeper.learning.privacy import Privacy
from sessionkeeper.learning.routes import LearningDep, json_response
from sessionkeeper.learning.schemas import (
    EraseOut,
    MeEnd,
    MeStart,
    OutcomeBody,
    Period,
    SessionWithOutcomeOut,
    UserSessionPage,
)
from sessionkeeper.learning.service import Learning, for_user
from sessionkeeper.learning.session_fields import OUTCOME_FIELD
from sessionkeeper.services.sessions import StartRequest

router = api_router(
    prefix="/v1", tags=["end users"], responses=PROBLEM_RESPONSES, route_class=SegmentRoute
)
MAX_HISTORY = 100
OUTCOME = OUTCOME_FIELD.name


async def end_user(request: Request) -> Principal:
    """The user an end-user token proves (``Authorization: Bearer <jwt>``)."""
    services = request.app.state.services
    found: Principal = await services.of(Learning).authenticate(
        bearer_token(request), named_tenant(request)
    )
    # The same per-credential limit as API keys, counted per user.
    await services.rate_limits.check(found)
    return found


setattr(end_user, AUTHENTICATES, True)
EndUser = Annotated[Principal, Depends(end_user)]
Limit = Annotated[int, Query(ge=1, le=MAX_HISTORY)]
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)]
KindQuery = Annotated[str | None, Query(pattern=KIND_PATTERN)]
Tz = Annotated[
    str | None,
    Query(max_length=64, description="IANA time zone of the user (default: the tenant's)"),
]


# Shared by /v1/me and /v1/users/{user_id}.


async def _history(
    principal: Principal, learning: Learning, kind: str | None, limit: int, cursor: str | None
) -> UserSessionPage:
    rows, after = await learning.history(
        principal, kind=kind, limit=limit, after=decode_cursor(cursor)
    )
    return UserSessionPage(
        items=[SessionWithOutcomeOut.with_outcome(s, o) for s, o in rows],
        next_cursor=encode_cursor(after),
    )


async def _stats(
    principal: Principal, learning: Learning, period: str, tz: str | None
) -> UserStatsOut:
    stats = await Insights(learning).stats(principal, period=period, tz=tz)
    return UserStatsOut.of(principal.user_id or "", stats)


async def _recap(principal: Principal, learning: Learning, tz: str | None) -> RecapOut:
    recap = await Insights(learning).recap(principal, tz=tz)
    return RecapOut.of(principal.user_id or "", recap)


async def _export(principal: Principal, learning: Learning) -> StreamingResponse:
    chunks = Privacy(learning).export(principal, principal.user_id or "")
    return StreamingResponse(
        _encoded(chunks),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="user-export.json"'},
    )


async def _encoded(chunks: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk.encode()


EXPORT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "content": {"application/json": {"schema": {"type": "object"}}},
        "description": "{user_id, exported_at, sessions: [... with outcomes], events: [...]}",
    }
}


# /v1/me


@router.post(
    "/me/sessions",
    status_code=201,
    response_model=SessionWithOutcomeOut,
    responses={
        200: {"model": SessionWithOutcomeOut, "description": "A retried start"},
        **problems(409),
    },
)
async def start_my_session(body: MeStart, principal: EndUser, learning: LearningDep) -> Response:
    """Start a session of the token's user (the user id comes from the token)."""
    result = await learning.services.sessions.start(
        principal,
        StartRequest(
            id=body.id,
            user_id=principal.user_id or "",
            kind=body.kind,
            label=body.label,
            attributes=body.attributes,
            started_at=ms_or_none(body.started_at),
            continues=body.continues,
            subject=body.subject,
        ),
    )
    out = SessionWithOutcomeOut.with_answered(result.session, result.fields.get(OUTCOME))
    return json_response(out, 201 if result.created else 200)


@router.get("/me/sessions", response_model=UserSessionPage)
async def my_sessions(
    principal: EndUser,
    learning: LearningDep,
    kind: KindQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> UserSessionPage:
    """The user's sessions with their outcomes, newest first; follow ``next_cursor``."""
    return await _history(principal, learning, kind, limit, cursor)


@router.get(
    "/me/sessions/{session_id}", response_model=SessionWithOutcomeOut, responses=problems(404)
)
async def my_session(session_id: str, principal: EndUser, learning: LearningDep) -> Response:
    session = await learning.services.sessions.get(principal, session_id)
    found = await learning.outcomes(principal, [session])
    return json_response(SessionWithOutcomeOut.with_outcome(session, found.get(session.id)))


@router.post(
    "/me/sessions/{session_id}/heartbeat",
    response_model=HeartbeatOut,
    responses=problems(404, 409),
)
async def my_heartbeat(
    session_id: str,
    principal: EndUser,
    learning: LearningDep,
    body: HeartbeatBody | None = None,
) -> Response:
    return await answer(learning.services.sessions, principal, session_id, body or HeartbeatBody())


@router.post(
    "/me/sessions/{session_id}/end", response_model=SessionWithOutcomeOut, responses=problems(404)
)
async def end_my_session(
    session_id: str, principal: EndUser, learning: LearningDep, body: MeEnd | None = None
) -> Response:
    """End the session; ``outcome``, when given, is set as by PUT …/outcome, in the end's
    transaction (the path of ``POST /v1/sessions/{id}/end``): a refused one refuses the end."""
    body = body or MeEnd()
    session, fields = await learning.services.sessions.end_with_fields(
        principal,
        session_id,
        at=ms_or_none(body.at),
        given={} if body.outcome is None else {OUTCOME: body.outcome},
    )
    return json_response(SessionWithOutcomeOut.with_answered(session, fields.get(OUTCOME)))


@router.put(
    "/me/sessions/{session_id}/outcome",
    response_model=SessionWithOutcomeOut,
    responses=problems(404),
)
async def put_my_outcome(
    session_id: str, body: OutcomeBody, principal: EndUser, learning: LearningDep
) -> Response:
    session, outcome = await learning.put_outcome(principal, session_id, body.outcome())
    return json_response(SessionWithOutcomeOut.with_outcome(session, outcome))


@router.get("/me/stats", response_model=UserStatsOut)
async def my_stats(
    principal: EndUser, learning: LearningDep, period: Period = "week", tz: Tz = None
) -> UserStatsOut:
    """Sessions, durations, metrics, counters and tags of the last 7 or 30 days, compared
    with the days before, and the user's streaks."""
    return await _stats(principal, learning, period, tz)


@router.get("/me/recap", response_model=RecapOut)
async def my_recap(principal: EndUser, learning: LearningDep, tz: Tz = None) -> RecapOut:
    """Focus areas, items to review and the last session, each saying why it is there."""
    return await _recap(principal, learning, tz)


@router.get("/me/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES)
async def export_me(principal: EndUser, learning: LearningDep) -> StreamingResponse:
    """Everything stored of the user, as one JSON document (streamed)."""
    return await _export(principal, learning)


@router.delete("/me", response_model=EraseOut)
async def erase_me(principal: EndUser, learning: LearningDep) -> EraseOut:
    """Erase everything stored of the user."""
    user = principal.user_id or ""
    return EraseOut(user_id=user, erased=await Privacy(learning).erase(principal, user))


# /v1/users/{user_id}
#
# User ids are free text, "/" included: the router's SegmentRoute matches the path as the
# client sent it, so "team%2Falice" is one segment and the user "team/alice".


@router.get("/users/{user_id}/sessions", response_model=UserSessionPage)
async def user_sessions(
    user_id: UserId,
    principal: ReadScope,
    learning: LearningDep,
    kind: KindQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> UserSessionPage:
    return await _history(for_user(principal, user_id), learning, kind, limit, cursor)


@router.get("/users/{user_id}/stats", response_model=UserStatsOut)
async def user_stats(
    user_id: UserId,
    principal: ReadScope,
    learning: LearningDep,
    period: Period = "week",
    tz: Tz = None,
) -> UserStatsOut:
    return await _stats(for_user(principal, user_id), learning, period, tz)


@router.get("/users/{user_id}/recap", response_model=RecapOut)
async def user_recap(
    user_id: UserId, principal: ReadScope, learning: LearningDep, tz: Tz = None
) -> RecapOut:
    return await _recap(for_user(principal, user_id), learning, tz)


@router.get("/users/{user_id}/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES)
async def export_user(
    user_id: UserId, principal: ReadScope, learning: LearningDep
) -> StreamingResponse:
    return await _export(for_user(principal, user_id), learning)


@router.delete("/users/{user_id}", response_model=EraseOut)
async def erase_user(user_id: UserId, principal: AdminScope, learning: LearningDep) -> EraseOut:
    """Erase every session, attendance, event and outcome of the user (logged)."""
    return EraseOut(user_id=user_id, erased=await Privacy(learning).erase(principal, user_id))
