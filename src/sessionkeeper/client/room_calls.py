"""Each operation of the rooms API as a :class:`~sessionkeeper.client.calls.Call`.

A room made here carries an id made here, so a retried create whose answer was lost is
answered 200 with the same room. Joins, presence, leaves and ends are idempotent already: a
join while present continues the same attendance, presence only moves forward, leaving and
ending repeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sessionkeeper.client.calls import Call, iso, path_segment
from sessionkeeper.client.protocol import Status, new_session_id
from sessionkeeper.client.room_models import (
    CleanupResult,
    CleanupStatus,
    Invite,
    InviteStatus,
    Participant,
    Room,
    RoomPage,
)


def _at(at: datetime | None) -> dict[str, Any]:
    return {} if at is None else {"at": iso(at)}


def _participant(room_id: str, user_id: str, action: str) -> str:
    return f"/v1/rooms/{path_segment(room_id)}/participants/{path_segment(user_id)}/{action}"


def create_room(
    kind: str,
    created_by: str,
    *,
    id: str | None = None,
    label: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Call[Room]:
    body: dict[str, Any] = {"id": id or new_session_id(), "kind": kind, "created_by": created_by}
    if label is not None:
        body["label"] = label
    if attributes is not None:
        body["attributes"] = dict(attributes)
    return Call("POST", "/v1/rooms", Room.from_json, json=body)


def get_room(room_id: str) -> Call[Room]:
    return Call("GET", f"/v1/rooms/{path_segment(room_id)}", Room.from_json)


class RoomFilters(TypedDict, total=False):
    """Which rooms a listing returns; every filter is optional."""

    status: Status | str
    kind: str
    user_id: str
    active_since: datetime
    limit: int
    cursor: str


def list_rooms(**filters: Unpack[RoomFilters]) -> Call[RoomPage]:
    params = {
        name: iso(value) if isinstance(value, datetime) else str(value)
        for name, value in filters.items()
        if value is not None
    }
    return Call("GET", "/v1/rooms", RoomPage.from_json, params=params)


def join(
    room_id: str,
    user_id: str,
    *,
    invite_token: str | None = None,
    at: datetime | None = None,
) -> Call[Participant]:
    body: dict[str, Any] = {"user_id": user_id, **_at(at)}
    if invite_token is not None:
        body["invite_token"] = invite_token
    path = f"/v1/rooms/{path_segment(room_id)}/participants"
    return Call("POST", path, Participant.from_json, json=body)


def presence(room_id: str, user_id: str, *, at: datetime | None = None) -> Call[Participant]:
    return Call(
        "POST", _participant(room_id, user_id, "presence"), Participant.from_json, json=_at(at)
    )


def leave(room_id: str, user_id: str, *, at: datetime | None = None) -> Call[Participant]:
    return Call(
        "POST", _participant(room_id, user_id, "leave"), Participant.from_json, json=_at(at)
    )


def end_room(room_id: str, *, at: datetime | None = None) -> Call[Room]:
    return Call("POST", f"/v1/rooms/{path_segment(room_id)}/end", Room.from_json, json=_at(at))


def invite(
    room_id: str,
    *,
    max_uses: int | None = None,
    expires_at: datetime | None = None,
    expires_with_room: bool = True,
) -> Call[Invite]:
    body: dict[str, Any] = {"expires_with_room": expires_with_room}
    if max_uses is not None:
        body["max_uses"] = max_uses
    if expires_at is not None:
        body["expires_at"] = iso(expires_at)
    return Call("POST", f"/v1/rooms/{path_segment(room_id)}/invites", Invite.from_json, json=body)


def inspect_invite(token: str) -> Call[InviteStatus]:
    return Call("GET", f"/v1/invites/{path_segment(token)}", InviteStatus.from_json)


def revoke_invite(invite_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/invites/{path_segment(invite_id)}", _nothing)


def _nothing(_data: Any) -> None:
    return None


def cleanup() -> Call[CleanupResult]:
    return Call("POST", "/v1/maintenance/cleanup", CleanupResult.from_json)


def cleanup_status() -> Call[CleanupStatus]:
    return Call("GET", "/v1/maintenance/cleanup", CleanupStatus.from_json)
