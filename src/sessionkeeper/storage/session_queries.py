"""Read-side SQL for sessions: listing with cursor pagination and counts for health."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.listing import Cursor, SessionFilter, SessionOrder, SortKey
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.session_filters import conditions as filter_conditions
from sessionkeeper.storage.session_filters import status_at
from sessionkeeper.storage.sessions import SESSION_COLUMNS, overdue_at, row_to_session
from sessionkeeper.storage.source_beats import EXPIRES_AT
from sessionkeeper.storage.statuses import IS_ACTIVE
from sessionkeeper.storage.tables import DURATION
from sessionkeeper.storage.tables import sessions as t

# Health looks back this far for sessions that timed out ("timed out in the last hour").
RECENT_MS = 3_600_000


def timed_out_since(since: int) -> sa.ColumnElement[bool]:
    """Closed by timeout at or after ``since``. (Overdue sessions the sweep has not closed yet
    are counted as overdue, and shown as they will be closed.)"""
    return sa.and_(t.c.end_reason == EndReason.TIMEOUT.value, t.c.ended_at >= since)


def _sort_column(key: SortKey) -> sa.ColumnElement[int]:
    if key is SortKey.ENDED:
        return t.c.ended_at
    if key is SortKey.DURATION:
        return DURATION  # as the index spells it, so that the database reads that index
    return t.c.started_at


def list_sessions(
    conn: Connection,
    principal: Principal,
    where: SessionFilter,
    *,
    limit: int,
    after: Cursor | None,
    now: int,
    order: SessionOrder = SessionOrder.NEWEST,
) -> list[Session]:
    """A page of sessions matching ``where`` as it stands at ``now``, in ``order``; ``after``
    is the cursor of the page before, in the same order. Ordered by end or duration, only
    the sessions closed in the table are listed (an overdue one joins them when swept)."""
    stmt = list_statement(principal, where, limit=limit, after=after, now=now, order=order)
    return [row_to_session(row).as_of(now) for row in conn.execute(stmt).mappings()]


def list_statement(
    principal: Principal,
    where: SessionFilter,
    *,
    limit: int,
    after: Cursor | None,
    now: int,
    order: SessionOrder,
) -> sa.Select[Any]:
    """The SELECT of one page of :func:`list_sessions`."""
    conditions = filter_conditions(principal, where, now)
    column = _sort_column(order.key)
    if order.key is not SortKey.STARTED:
        conditions.append(t.c.ended_at.is_not(None))
    if after is not None:
        # The plain bound besides the OR gives the planner a range to start the index at:
        # PostgreSQL keeps no statistics of a partial index's expression (the duration), and
        # without it walked the tenant's whole index for a late page.
        if order.ascending:
            tie = sa.and_(column == after.value, t.c.id > after.id)
            conditions += [column >= after.value, sa.or_(column > after.value, tie)]
        else:
            tie = sa.and_(column == after.value, t.c.id < after.id)
            conditions += [column <= after.value, sa.or_(column < after.value, tie)]
    ordering = (column.asc(), t.c.id.asc()) if order.ascending else (column.desc(), t.c.id.desc())
    return sa.select(*SESSION_COLUMNS).where(*conditions).order_by(*ordering).limit(limit)


@dataclass(slots=True)
class KindCounts:
    active: int = 0
    overdue: int = 0
    timed_out_last_hour: int = 0
    active_users: int = 0


@dataclass(slots=True)
class SessionCounts:
    by_kind: dict[str, KindCounts] = field(default_factory=lambda: defaultdict(KindCounts))
    active_users: int = 0

    def total(self, name: str) -> int:
        return sum(getattr(counts, name) for counts in self.by_kind.values())


def session_counts(conn: Connection, principal: Principal, now: int) -> SessionCounts:
    """Per-kind active, overdue and recently timed-out counts, for one tenant."""
    counts = SessionCounts()
    # Each use of the deadline looks up a presence session's source row: used twice, not
    # three times (overdue = open - alive).
    alive = now <= EXPIRES_AT
    rows = conn.execute(
        sa.select(
            t.c.kind,
            sa.func.count(),
            sa.func.sum(sa.case((alive, 1), else_=0)),
            sa.func.count(sa.distinct(sa.case((alive, t.c.user_id)))),
        )
        .where(visible_to(t, principal), IS_ACTIVE)
        .group_by(t.c.kind)
    )
    for kind, n_open, n_active, n_users in rows:
        entry = counts.by_kind[kind]
        entry.active = int(n_active or 0)
        entry.overdue = int(n_open) - entry.active
        entry.active_users = n_users
    timed_out = conn.execute(
        sa.select(t.c.kind, sa.func.count())
        .where(visible_to(t, principal), timed_out_since(now - RECENT_MS))
        .group_by(t.c.kind)
    )
    for kind, n in timed_out:
        counts.by_kind[kind].timed_out_last_hour = n
    counts.active_users = conn.execute(
        sa.select(sa.func.count(sa.distinct(t.c.user_id))).where(
            visible_to(t, principal), status_at(Status.ACTIVE, now)
        )
    ).scalar_one()
    return counts


def overdue_sessions(conn: Connection, principal: Principal, now: int, limit: int) -> list[Session]:
    stmt = (
        sa.select(*SESSION_COLUMNS)
        .where(visible_to(t, principal), overdue_at(now))
        .order_by(EXPIRES_AT)
        .limit(limit)
    )
    return [row_to_session(row).as_of(now) for row in conn.execute(stmt).mappings()]


def overdue_ids(conn: Connection, principal: Principal, now: int, limit: int) -> list[str]:
    """Ids of the principal's overdue sessions, the longest overdue first."""
    stmt = (
        sa.select(t.c.id)
        .where(visible_to(t, principal), overdue_at(now))
        .order_by(EXPIRES_AT)
        .limit(limit)
    )
    return list(conn.execute(stmt).scalars())


def recently_timed_out(
    conn: Connection, principal: Principal, now: int, limit: int
) -> list[Session]:
    stmt = (
        sa.select(*SESSION_COLUMNS)
        .where(visible_to(t, principal), timed_out_since(now - RECENT_MS))
        .order_by(t.c.ended_at.desc())
        .limit(limit)
    )
    return [row_to_session(row).as_of(now) for row in conn.execute(stmt).mappings()]


def active_by_kind(conn: Connection, now: int) -> dict[str, int]:
    """Active sessions per kind over all tenants (for the Prometheus gauge)."""
    rows = conn.execute(
        sa.select(t.c.kind, sa.func.count()).where(status_at(Status.ACTIVE, now)).group_by(t.c.kind)
    )
    return {kind: n for kind, n in rows}
