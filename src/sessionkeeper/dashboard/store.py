"""The dashboard's queries of its own: a room's invitations (the rooms feature answers for
one invitation at a time), and the chart no service answers in one read — the sessions
going in the last hours, read as they stand at ``now`` (``session_filters.as_of``), as every
listing and total does."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.rollups.store import IS_ACTIVE
from sessionkeeper.rooms.invite_store import Invite, to_invite
from sessionkeeper.rooms.tables import room_invites
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.session_filters import as_of
from sessionkeeper.storage.sessions import ACTIVE
from sessionkeeper.storage.tables import sessions as t


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


def spans_since(
    conn: Connection, principal: Principal, *, since: int, now: int
) -> list[tuple[str, int, int]]:
    """``(kind, started_at, end)`` of every session going at some moment after ``since``: open
    ones (their end is ``now``; an overdue one ends as the sweep will close it), read through
    the partial index of active sessions, and those closed since, through the index of ends
    — two reads, as one read with an OR would walk every start before ``now``."""
    ended = as_of(now)["ended_at"]
    columns = (t.c.kind, t.c.started_at, sa.func.coalesce(ended, now))
    opened = sa.select(*columns).where(visible_to(t, principal), IS_ACTIVE)
    closed = sa.select(*columns).where(
        visible_to(t, principal),
        t.c.ended_at >= since,
        t.c.status != ACTIVE,
        t.c.started_at < now,
    )
    spans = [(kind, int(started), int(end)) for kind, started, end in conn.execute(opened)]
    spans = [span for span in spans if span[1] < now and span[2] >= since]
    spans += [(kind, int(started), int(end)) for kind, started, end in conn.execute(closed)]
    return spans
