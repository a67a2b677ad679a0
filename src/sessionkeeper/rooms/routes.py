"""Rooms over HTTP: rooms and participants, invitations, the cleanup."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from sessionkeeper.api.deps import (
    IngestOrReadScope,
    IngestScope,
    MaintenanceScope,
    ReadScope,
    ServicesDep,
)
from sessionkeeper.api.errors import PROBLEM_RESPONSES
from sessionkeeper.api.fields import TEXT_PATTERN, ClientTime, ms_or_none
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.sessions import MAX_PAGE, decode_cursor, encode_cursor
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.domain.ids import KIND_PATTERN
from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.rooms.schemas import (
    AtBody,
    CleanupOut,
    CleanupStatusOut,
    InviteCreate,
    InviteOut,
    InviteStatusOut,
    JoinBody,
    ParticipantOut,
    RoomCreate,
    RoomOut,
    RoomPage,
)
from sessionkeeper.rooms.service import RoomRequest, Rooms
from sessionkeeper.rooms.store import RoomFilter

router = api_router(
    prefix="/v1",
    tags=["rooms"],
    responses={**PROBLEM_RESPONSES, 410: PROBLEM_RESPONSES[409]},
    route_class=StrictJSONRoute,
)
# A user id may hold any character but NUL, "/" included: the path takes the rest.
PARTICIPANT = "/rooms/{room_id}/participants/{user_id:path}"


async def get_rooms(services: ServicesDep) -> Rooms:
    return services.of(Rooms)


RoomsDep = Annotated[Rooms, Depends(get_rooms)]


def _json(model: BaseModel, status_code: int) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status_code)


@router.post(
    "/rooms",
    status_code=201,
    response_model=RoomOut,
    responses={200: {"model": RoomOut, "description": "A retried create: the room as stored"}},
)
async def create_room(body: RoomCreate, principal: IngestScope, rooms: RoomsDep) -> JSONResponse:
    """Create a room. The same id with the same body again answers 200 (a retry)."""
    view, created = await rooms.rooms.create(
        principal,
        RoomRequest(
            id=body.id,
            kind=body.kind,
            label=body.label,
            attributes=body.attributes,
            created_by=body.created_by,
        ),
    )
    return _json(RoomOut.of(view), 201 if created else 200)


@router.get("/rooms/{room_id}", response_model=RoomOut)
async def get_room(room_id: str, principal: IngestOrReadScope, rooms: RoomsDep) -> RoomOut:
    """The room with every participant and their attendance segments."""
    return RoomOut.of(await rooms.rooms.get(principal, room_id))


@router.get("/rooms", response_model=RoomPage)
async def list_rooms(
    principal: ReadScope,
    rooms: RoomsDep,
    status: Status | None = None,
    kind: Annotated[str | None, Query(pattern=KIND_PATTERN)] = None,
    user_id: Annotated[
        str | None, Query(max_length=256, pattern=TEXT_PATTERN, description="A participant")
    ] = None,
    active_since: Annotated[
        ClientTime | None, Query(description="Rooms with participant activity since")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> RoomPage:
    """Rooms, newest first (without their participants). Follow ``next_cursor``."""
    where = RoomFilter(
        status=status, kind=kind, user_id=user_id, active_since=ms_or_none(active_since)
    )
    page, after = await rooms.rooms.list(principal, where, limit=limit, after=decode_cursor(cursor))
    return RoomPage(items=[RoomOut.of(v) for v in page], next_cursor=encode_cursor(after))


@router.post(
    "/rooms/{room_id}/participants",
    status_code=201,
    response_model=ParticipantOut,
    responses={200: {"model": ParticipantOut, "description": "Present already: the same one"}},
)
async def join(
    room_id: str, body: JoinBody, principal: IngestScope, rooms: RoomsDep
) -> JSONResponse:
    """Join the room (201), or say so again while present (200). With ``invite_token`` the
    join uses that invitation; a closed room answers 409 with the room."""
    view, created = await rooms.rooms.join(
        principal, room_id, body.user_id, at=ms_or_none(body.at), invite_token=body.invite_token
    )
    return _json(ParticipantOut.of_view(view), 201 if created else 200)


@router.post(PARTICIPANT + "/presence", response_model=ParticipantOut)
async def presence(
    room_id: str,
    user_id: str,
    principal: IngestScope,
    rooms: RoomsDep,
    body: AtBody | None = None,
) -> ParticipantOut:
    """Still here (every ``presence_interval_s``). Once the participant's attendance has
    closed the answer is 409 ``not_present``: join again."""
    at = ms_or_none((body or AtBody()).at)
    return ParticipantOut.of_view(await rooms.rooms.presence(principal, room_id, user_id, at=at))


@router.post(PARTICIPANT + "/leave", response_model=ParticipantOut)
async def leave(
    room_id: str,
    user_id: str,
    principal: IngestScope,
    rooms: RoomsDep,
    body: AtBody | None = None,
) -> ParticipantOut:
    """Leave the room; leaving again returns the same."""
    at = ms_or_none((body or AtBody()).at)
    return ParticipantOut.of_view(await rooms.rooms.leave(principal, room_id, user_id, at=at))


@router.post("/rooms/{room_id}/end", response_model=RoomOut)
async def end_room(
    room_id: str, principal: IngestScope, rooms: RoomsDep, body: AtBody | None = None
) -> RoomOut:
    """Close the room and every attendance in it; ending again returns the same."""
    at = ms_or_none((body or AtBody()).at)
    return RoomOut.of(await rooms.rooms.end(principal, room_id, at=at))


@router.post("/rooms/{room_id}/invites", status_code=201, response_model=InviteOut)
async def create_invite(
    room_id: str,
    request: Request,
    principal: IngestScope,
    rooms: RoomsDep,
    body: InviteCreate | None = None,
) -> InviteOut:
    """An invitation to the room. Its token is shown only now."""
    body = body or InviteCreate()
    made = await rooms.invites.create(
        principal,
        room_id,
        max_uses=body.max_uses,
        expires_at=ms_or_none(body.expires_at),
        expires_with_room=body.expires_with_room,
    )
    template = rooms.runtime.settings.invite_url
    if template is None:
        url = str(request.url_for("inspect_invite", invite=made.token))
    else:
        url = template.replace("{token}", made.token)
    return InviteOut.of(made, url)


# One path for both: GET takes an invitation's token, DELETE its id.
INVITE = "/invites/{invite}"


@router.get(INVITE, response_model=InviteStatusOut)
async def inspect_invite(
    invite: Annotated[str, Path(description="The invitation's token")],
    principal: IngestOrReadScope,
    rooms: RoomsDep,
) -> InviteStatusOut:
    """Whether a join with this token would be let in, and how long the room has left. It
    never uses the invitation, so a link scanner cannot spend it."""
    return InviteStatusOut.of(await rooms.invites.inspect(principal, invite))


@router.delete(INVITE, status_code=204, response_class=Response)
async def revoke_invite(
    invite: Annotated[str, Path(description="The invitation's id")],
    principal: IngestScope,
    rooms: RoomsDep,
) -> Response:
    """Revoke the invitation: joins with it answer 410 ``invite_revoked``."""
    await rooms.invites.revoke(principal, invite)
    return Response(status_code=204)


@router.post("/maintenance/cleanup", response_model=CleanupOut, tags=["maintenance"])
async def cleanup_now(principal: MaintenanceScope, rooms: RoomsDep) -> CleanupOut:
    """Close the tenant's inactive rooms now (every tenant's, and the purge, for the operator
    key acting server-wide); returns the caller's tenant's counts."""
    return CleanupOut.of(await rooms.cleaner.run_for(principal), principal)


@router.get("/maintenance/cleanup", response_model=CleanupStatusOut, tags=["maintenance"])
async def cleanup_status(principal: ReadScope, rooms: RoomsDep) -> CleanupStatusOut:
    """The last cleanup run (the caller's tenant's counts in it) and the next."""
    return CleanupStatusOut.of(await rooms.cleaner.status(principal))
