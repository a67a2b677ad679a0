"""Read-side SQL for sessions: listing with cursor pagination and counts for health."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.listing import Cursor, SessionFilter
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.sessions import SESSION_COLUMNS, overdue_at, row_to_session
from sessionkeeper.storage.tables import sessions as t

# Health looks back this far for sessions that timed out ("timed out in the last hour").
RECENT_MS = 3_600_000


def timed_out_since(since: int) -> sa.ColumnElement[bool]:
    return sa.and_(t.c.end_reason == EndReason.TIMEOUT.value, t.c.ended_at >= since)


def list_sessions(
    conn: Connection,
    principal: Principal,
    where: SessionFilter,
    *,
    limit: int,
    after: Cursor | None,
) -> list[Session]:
    conditions: list[sa.ColumnElement[bool]] = [visible_to(t, principal)]
    if where.status is not None:
        conditions.append(t.c.status == where.status.value)
    for column, value in (
        (t.c.kind, where.kind),
        (t.c.user_id, where.user_id),
        (t.c.label, where.label),
        (t.c.source, where.source),
    ):
        if value is not None:
            conditions.append(column == value)
    if where.started_after is not None:
        conditions.append(t.c.started_at >= where.started_after)
    if where.started_before is not None:
        conditions.append(t.c.started_at < where.started_before)
    if after is not None:
        conditions.append(
            sa.or_(
                t.c.started_at < after.started_at,
                sa.and_(t.c.started_at == after.started_at, t.c.id < after.id),
            )
        )
    stmt = (
        sa.select(*SESSION_COLUMNS)
        .where(*conditions)
        .order_by(t.c.started_at.desc(), t.c.id.desc())
        .limit(limit)
    )
    return [row_to_session(row) for row in conn.execute(stmt).mappings()]


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
    active = t.c.status == Status.ACTIVE.value
    rows = conn.execute(
        sa.select(
            t.c.kind,
            sa.func.count(),
            sa.func.sum(sa.case((t.c.expires_at < now, 1), else_=0)),
            sa.func.count(sa.distinct(t.c.user_id)),
        )
        .where(visible_to(t, principal), active)
        .group_by(t.c.kind)
    )
    for kind, n_active, n_overdue, n_users in rows:
        entry = counts.by_kind[kind]
        entry.active, entry.overdue, entry.active_users = n_active, int(n_overdue or 0), n_users
    timed_out = conn.execute(
        sa.select(t.c.kind, sa.func.count())
        .where(visible_to(t, principal), timed_out_since(now - RECENT_MS))
        .group_by(t.c.kind)
    )
    for kind, n in timed_out:
        counts.by_kind[kind].timed_out_last_hour = n
    counts.active_users = conn.execute(
        sa.select(sa.func.count(sa.distinct(t.c.user_id))).where(visible_to(t, principal), active)
    ).scalar_one()
    return counts


def overdue_sessions(conn: Connection, principal: Principal, now: int, limit: int) -> list[Session]:
    stmt = (
        sa.select(*SESSION_COLUMNS)
        .where(visible_to(t, principal), overdue_at(now))
        .order_by(t.c.expires_at)
        .limit(limit)
    )
    return [row_to_session(row) for row in conn.execute(stmt).mappings()]


def overdue_ids(conn: Connection, principal: Principal, now: int, limit: int) -> list[str]:
    """Ids of the principal's overdue sessions, the longest overdue first."""
    stmt = (
        sa.select(t.c.id)
        .where(visible_to(t, principal), overdue_at(now))
        .order_by(t.c.expires_at)
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
    return [row_to_session(row) for row in conn.execute(stmt).mappings()]


def active_by_kind(conn: Connection) -> dict[str, int]:
    """Active sessions per kind over all tenants (for the Prometheus gauge)."""
    rows = conn.execute(
        sa.select(t.c.kind, sa.func.count())
        .where(t.c.status == Status.ACTIVE.value)
        .group_by(t.c.kind)
    )
    return {kind: n for kind, n in rows}
