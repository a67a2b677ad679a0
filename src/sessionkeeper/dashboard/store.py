"""The dashboard's one query of its own: a room's invitations, newest first (the rooms
feature answers for one invitation at a time)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.rooms.invite_store import Invite, to_invite
from sessionkeeper.rooms.tables import room_invites
from sessionkeeper.storage.scope import visible_to


def invites_of_room(
    conn: Connection, principal: Principal, room_id: str, *, limit: int
) -> list[Invite]:
    """The room's invitations, newest first (their tokens are stored as digests only)."""
    i = room_invites.c
    stmt = (
        sa.select(room_invites)
        .where(visible_to(room_invites, principal), i.room_id == room_id)
        .order_by(i.created_at.desc(), i.id.desc())
        .limit(limit)
    )
    return [to_invite(row) for row in conn.execute(stmt).mappings()]
