"""The dashboard's queries of its own: the sessions listing oldest first, and a room's
invitations (the rooms feature answers for one invitation at a time).

Newest first is the kernel's listing (``services.sessions.list``); the other direction reads
the same filters (``storage/session_filters.py``) in the opposite order, so a filter means
exactly what it means in the API, the stats and the export.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.listing import Cursor, SessionFilter
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.rooms.invite_store import Invite
from sessionkeeper.rooms.tables import room_invites
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.session_filters import conditions as filter_conditions
from sessionkeeper.storage.sessions import SESSION_COLUMNS, row_to_session
from sessionkeeper.storage.tables import sessions as t


def list_oldest_first(
    conn: Connection,
    principal: Principal,
    where: SessionFilter,
    *,
    limit: int,
    after: Cursor | None,
    now: int,
) -> list[Session]:
    """A page of sessions matching ``where`` as they stand at ``now``, oldest first."""
    conditions = filter_conditions(principal, where, now)
    if after is not None:
        conditions.append(
            sa.or_(
                t.c.started_at > after.started_at,
                sa.and_(t.c.started_at == after.started_at, t.c.id > after.id),
            )
        )
    stmt = (
        sa.select(*SESSION_COLUMNS)
        .where(*conditions)
        .order_by(t.c.started_at.asc(), t.c.id.asc())
        .limit(limit)
    )
    return [row_to_session(row).as_of(now) for row in conn.execute(stmt).mappings()]


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
    return [
        Invite(
            id=row["id"],
            room_id=row["room_id"],
            max_uses=row["max_uses"],
            uses=row["uses"],
            expires_at=row["expires_at"],
            expires_with_room=bool(row["expires_with_room"]),
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )
        for row in conn.execute(stmt).mappings()
    ]
