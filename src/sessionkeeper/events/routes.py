"""Event endpoints: store a batch, list events, a session's events."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from sessionkeeper.api.deps import IngestOrReadScope, IngestScope, ReadScope, ServicesDep
from sessionkeeper.api.errors import PROBLEM_RESPONSES
from sessionkeeper.api.fields import TEXT_PATTERN, ClientTime, ms_or_none
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.sessions import MAX_PAGE, decode_cursor, encode_cursor
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.domain.ids import SESSION_ID_PATTERN
from sessionkeeper.domain.listing import Cursor
from sessionkeeper.events.rules import Event, EventFilter, EventType
from sessionkeeper.events.schemas import (
    EventBatch,
    EventBatchOut,
    EventOut,
    EventPage,
    batch_answer,
    parse_batch,
)
from sessionkeeper.events.service import EventService

router = api_router(
    prefix="/v1", tags=["events"], responses=PROBLEM_RESPONSES, route_class=StrictJSONRoute
)

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
CursorParam = Annotated[str | None, Query(max_length=1024)]
NameParam = Annotated[str | None, Query(min_length=1, max_length=256, pattern=TEXT_PATTERN)]


def _page(page: list[Event], after: Cursor | None) -> EventPage:
    return EventPage(items=[EventOut.of(e) for e in page], next_cursor=encode_cursor(after))


@router.post("/events", response_model=EventBatchOut)
async def store_events(body: EventBatch, principal: IngestScope, services: ServicesDep) -> Response:
    """Store up to 1,000 events. Each gets an outcome: ``stored``, ``duplicate`` (its
    ``event_id`` was stored before), ``session_not_found`` or ``invalid`` (with the field and
    the reason); one bad event does not refuse the others. An event of an active session is a
    heartbeat of it at the event's ``at``."""
    outcomes = await services.of(EventService).ingest(principal, parse_batch(body.events))
    return Response(batch_answer(body.events, outcomes), media_type="application/json")


@router.get("/events", response_model=EventPage)
async def list_events(
    principal: ReadScope,
    services: ServicesDep,
    user_id: Annotated[str | None, Query(max_length=256, pattern=TEXT_PATTERN)] = None,
    session_id: Annotated[str | None, Query(pattern=SESSION_ID_PATTERN)] = None,
    type: EventType | None = None,
    name: NameParam = None,
    since: Annotated[ClientTime | None, Query()] = None,
    until: Annotated[ClientTime | None, Query()] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> EventPage:
    """Events, newest first; ``since`` included, ``until`` excluded. Follow ``next_cursor``."""
    where = EventFilter(
        user_id=user_id,
        session_id=session_id,
        type=type,
        name=name,
        since=ms_or_none(since),
        until=ms_or_none(until),
    )
    page, after = await services.of(EventService).list(
        principal, where, limit=limit, after=decode_cursor(cursor)
    )
    return _page(page, after)


@router.get("/sessions/{session_id}/events", response_model=EventPage)
async def session_events(
    session_id: str,
    principal: IngestOrReadScope,
    services: ServicesDep,
    type: EventType | None = None,
    name: NameParam = None,
    since: Annotated[ClientTime | None, Query()] = None,
    until: Annotated[ClientTime | None, Query()] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> EventPage:
    """The session's events, newest first; 404 when the tenant has no such session."""
    where = EventFilter(type=type, name=name, since=ms_or_none(since), until=ms_or_none(until))
    page, after = await services.of(EventService).of_session(
        principal, session_id, where, limit=limit, after=decode_cursor(cursor)
    )
    return _page(page, after)
