"""The dashboard's queries of its own: a room's invitations (the rooms feature answers for
one invitation at a time), and the chart no service answers in one read — the sessions
going in the last hours, read as they stand at ``now`` (``session_filters.as_of``), as every
listing and total does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.listing import SessionFilter
from sessionkeeper.domain.principal import Principal
from sessionkeeper.rooms.invite_store import Invite, to_invite
from sessionkeeper.rooms.tables import room_invites
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.session_filters import as_of, conditions
from sessionkeeper.storage.statuses import IS_ACTIVE
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


def hour_spans(
    conn: Connection, principal: Principal, *, first: int, hour_ms: int, now: int
) -> list[tuple[str, int, int, int]]:
    """``(kind, first hour, last hour, sessions)`` of the sessions going at some moment after
    ``first``: the hours counted from ``first`` in steps of ``hour_ms``, from the hour of the
    start (0 for a start before ``first``) to the hour holding the last moment before the end
    (``now`` for an open session; an overdue one ends as the sweep will close it). Open
    sessions come from the partial index of active ones; closed ones from the index of ends
    alone, which holds the start and the kind too: grouped in SQL, a day of sessions comes
    back as a few hundred rows."""

    def spans(end: sa.ColumnElement[int], *where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        low = sa.case((t.c.started_at < first, 0), else_=(t.c.started_at - first) // hour_ms).label(
            "low"
        )
        high = ((end - first - 1) // hour_ms).label("high")
        return (
            sa.select(t.c.kind, low, high, sa.func.count())
            .where(visible_to(t, principal), t.c.started_at < now, end > first, *where)
            .group_by(t.c.kind, low, high)
        )

    opened = spans(sa.func.coalesce(as_of(now)["ended_at"], now), IS_ACTIVE)
    closed = spans(t.c.ended_at, t.c.ended_at >= first)  # no open session has an end
    return [
        (kind, int(low), int(high), int(n))
        for stmt in (opened, closed)
        for kind, low, high, n in conn.execute(stmt)
    ]


@dataclass(frozen=True, slots=True)
class Today:
    started: int
    ended: int  # closed by their client or an admin (status ended)
    timed_out: int


def today(conn: Connection, principal: Principal, *, start: int, now: int) -> Today:
    """The overview's counts since ``start`` (today's start): what the session stats answer
    for ``started_after`` and ``ended_after`` (the same conditions), counted without the
    durations and percentiles the stats also compute, which sort every row."""
    started = sa.select(sa.func.count()).where(
        *conditions(principal, SessionFilter(started_after=start), now)
    )
    status = as_of(now)["status"]
    ended = (
        sa.select(status, sa.func.count())
        .where(*conditions(principal, SessionFilter(ended_after=start), now))
        .group_by(status)
    )
    by_status = {str(value): int(n) for value, n in conn.execute(ended)}
    return Today(
        started=int(conn.execute(started).scalar_one()),
        ended=by_status.get(Status.ENDED.value, 0),
        timed_out=by_status.get(Status.TIMED_OUT.value, 0),
    )
