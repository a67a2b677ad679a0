"""SQL of rollups: marks, per-tenant state, what a day is computed from, rows, live counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sessionkeeper.domain.principal import Principal
from sessionkeeper.events.rules import NO_KIND
from sessionkeeper.events.tables import events
from sessionkeeper.rollups.rules import DayRow, Part, TopName, Window
from sessionkeeper.rollups.tables import rollup_dirty, rollup_tenants, rollups_daily
from sessionkeeper.storage.dialect import dialect_insert
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.sessions import overdue_at as overdue_rule
from sessionkeeper.storage.statuses import IS_ACTIVE
from sessionkeeper.storage.tables import sessions


@dataclass(frozen=True, slots=True)
class Mark:
    """A (tenant, day, part) to recompute, as read at ``version``."""

    tenant_id: int
    day: date
    part: Part
    version: int = 0

    @property
    def key(self) -> tuple[int, date, str]:
        return (self.tenant_id, self.day, self.part.value)


@dataclass(frozen=True, slots=True)
class TenantState:
    longest_session_ms: int = 0
    events_dropped_before: int | None = None
    active_counted_to: int | None = None
    rebuild_started_at: int | None = None


# Marks


def mark(conn: Connection, marks: Iterable[tuple[int, date, Part]]) -> None:
    """Mark (tenant, day, part) for recomputation; bump the version of those marked already."""
    rows = [
        {"tenant_id": tenant_id, "day": day, "part": part.value, "version": 1}
        for tenant_id, day, part in sorted(set(marks))  # in key order: no deadlocks
    ]
    if not rows:
        return
    insert = dialect_insert(conn, rollup_dirty)
    stmt = insert.on_conflict_do_update(
        index_elements=["tenant_id", "day", "part"],
        set_={"version": rollup_dirty.c.version + 1},
    )
    conn.execute(stmt, rows)


def marks_after(
    conn: Connection, tenant_id: int | None, after: tuple[int, date, str] | None, limit: int
) -> list[Mark]:
    """The next ``limit`` marks in key order, after the key ``after``."""
    d = rollup_dirty.c
    stmt = sa.select(d.tenant_id, d.day, d.part, d.version)
    if tenant_id is not None:
        stmt = stmt.where(d.tenant_id == tenant_id)
    if after is not None:
        stmt = stmt.where(sa.tuple_(d.tenant_id, d.day, d.part) > sa.tuple_(*after))
    stmt = stmt.order_by(d.tenant_id, d.day, d.part).limit(limit)
    return [Mark(t, day, Part(part), version) for t, day, part, version in conn.execute(stmt)]


def count_marks(conn: Connection, tenant_id: int | None = None) -> int:
    stmt = sa.select(sa.func.count()).select_from(rollup_dirty)
    if tenant_id is not None:
        stmt = stmt.where(rollup_dirty.c.tenant_id == tenant_id)
    return int(conn.execute(stmt).scalar_one())


def clear(conn: Connection, marks: Sequence[Mark]) -> int:
    """Remove the marks that were not bumped since they were read."""
    if not marks:
        return 0
    d = rollup_dirty.c
    stmt = rollup_dirty.delete().where(
        d.tenant_id == sa.bindparam("m_tenant"),
        d.day == sa.bindparam("m_day", type_=sa.Date),
        d.part == sa.bindparam("m_part"),
        d.version == sa.bindparam("m_version"),
    )
    params = [
        {"m_tenant": m.tenant_id, "m_day": m.day, "m_part": m.part.value, "m_version": m.version}
        for m in sorted(marks, key=lambda m: m.key)
    ]
    return conn.execute(stmt, params).rowcount


# Per-tenant state


def state(conn: Connection, tenant_id: int) -> TenantState:
    row = conn.execute(
        sa.select(rollup_tenants).where(rollup_tenants.c.tenant_id == tenant_id)
    ).first()
    if row is None:
        return TenantState()
    return TenantState(
        longest_session_ms=row.longest_session_ms,
        events_dropped_before=row.events_dropped_before,
        active_counted_to=row.active_counted_to,
        rebuild_started_at=row.rebuild_started_at,
    )


def _set(
    conn: Connection, tenant_id: int, column: str, value: int | None, *, greatest: bool = False
) -> None:
    """Set one column of the tenant's state (to the greater of both, with ``greatest``)."""
    current = rollup_tenants.c[column]
    raises: sa.ColumnElement[bool] | None = None
    if greatest and value is not None:
        # Only a greater value is written: most closes are not the longest session yet, and
        # a conflict update that writes the same value still writes a new row version.
        raises = sa.or_(current.is_(None), current < sa.literal(value, sa.BigInteger))
    insert = dialect_insert(conn, rollup_tenants).values(
        **{"tenant_id": tenant_id, "longest_session_ms": 0, column: value}
    )
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["tenant_id"], set_={column: value}, where=raises
        )
    )


def raise_longest(conn: Connection, tenant_id: int, duration_ms: int) -> None:
    """Remember a session this long, unless a longer one was seen before."""
    _set(conn, tenant_id, "longest_session_ms", duration_ms, greatest=True)


def raise_events_dropped_before(conn: Connection, tenant_id: int, before: int) -> None:
    _set(conn, tenant_id, "events_dropped_before", before, greatest=True)


def set_active_counted_to(conn: Connection, tenant_id: int, at: int | None) -> None:
    _set(conn, tenant_id, "active_counted_to", at)


def set_rebuild_started_at(conn: Connection, tenant_id: int, at: int | None) -> None:
    _set(conn, tenant_id, "rebuild_started_at", at)


def counted_tenants(conn: Connection) -> dict[int, int]:
    """Tenants whose open sessions the last refresh counted, and up to when."""
    t = rollup_tenants.c
    rows = conn.execute(
        sa.select(t.tenant_id, t.active_counted_to).where(t.active_counted_to.is_not(None))
    )
    return {tenant_id: counted for tenant_id, counted in rows}


# What a day is computed from


def first_started(conn: Connection, tenant_id: int) -> int | None:
    s = sessions.c
    return conn.execute(
        sa.select(sa.func.min(s.started_at)).where(s.tenant_id == tenant_id)
    ).scalar()


def longest_closed(conn: Connection, tenant_id: int) -> int:
    """The longest closed session of the tenant, read from every row (for a rebuild)."""
    s = sessions.c
    longest = conn.execute(
        sa.select(sa.func.max(s.ended_at - s.started_at)).where(
            s.tenant_id == tenant_id, s.ended_at.is_not(None)
        )
    ).scalar()
    return int(longest or 0)


def earliest_active(
    conn: Connection, tenant_id: int | None = None, *, overdue_at: int | None = None
) -> dict[int, int]:
    """Per tenant with open sessions (overdue at ``overdue_at``, if given), when the oldest
    of them started; read from the partial index of active sessions."""
    s = sessions.c
    stmt = sa.select(s.tenant_id, sa.func.min(s.started_at)).where(IS_ACTIVE)
    if overdue_at is not None:
        # The sweep's rule (the partial index on active rows still serves IS_ACTIVE).
        stmt = stmt.where(overdue_rule(overdue_at))
    if tenant_id is not None:
        stmt = stmt.where(s.tenant_id == tenant_id)
    return {t: started for t, started in conn.execute(stmt.group_by(s.tenant_id))}


def event_counts(
    conn: Connection, tenant_id: int, window: Window
) -> list[tuple[str, str, str, int]]:
    """(kind, type, name, count) of the tenant's events made during ``window``."""
    e = events.c
    stmt = (
        sa.select(e.kind, e.type, e.name, sa.func.count())
        .where(e.tenant_id == tenant_id, e.at >= window[0], e.at < window[1])
        .group_by(e.kind, e.type, e.name)
    )
    return [(kind, t, name, int(n)) for kind, t, name, n in conn.execute(stmt)]


def unattached_users(conn: Connection, tenant_id: int, window: Window) -> int:
    """Distinct users of the events sent without a session during ``window``."""
    e = events.c
    stmt = sa.select(sa.func.count(sa.distinct(e.user_id))).where(
        e.tenant_id == tenant_id, e.at >= window[0], e.at < window[1], e.kind == NO_KIND
    )
    return int(conn.execute(stmt).scalar_one())


# Rows


def _row_to_day(row: RowMapping) -> DayRow:
    return DayRow(
        day=row["day"],
        kind=row["kind"],
        sessions_started=row["sessions_started"],
        sessions_active=row["sessions_active"],
        users=row["users"],
        duration_total_ms=row["duration_total_ms"],
        duration_estimated_ms=row["duration_estimated_ms"],
        duration_low_ms=row["duration_low_ms"],
        duration_high_ms=row["duration_high_ms"],
        duration_p50_ms=row["duration_p50_ms"],
        duration_p95_ms=row["duration_p95_ms"],
        by_status=row["by_status"],
        events_by_type=row["events_by_type"],
        top_names=tuple(TopName(t, name, count) for t, name, count in row["top_names"]),
        computed_at=row["computed_at"],
    )


def _day_to_row(tenant_id: int, row: DayRow) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "day": row.day,
        "kind": row.kind,
        "sessions_started": row.sessions_started,
        "sessions_active": row.sessions_active,
        "users": row.users,
        "duration_total_ms": row.duration_total_ms,
        "duration_estimated_ms": row.duration_estimated_ms,
        "duration_low_ms": row.duration_low_ms,
        "duration_high_ms": row.duration_high_ms,
        "duration_p50_ms": row.duration_p50_ms,
        "duration_p95_ms": row.duration_p95_ms,
        "by_status": dict(row.by_status),
        "events_by_type": dict(row.events_by_type),
        "top_names": [[n.type, n.name, n.count] for n in row.top_names],
        "computed_at": row.computed_at,
    }


def day_rows(conn: Connection, tenant_id: int, day: date) -> list[DayRow]:
    r = rollups_daily.c
    stmt = sa.select(rollups_daily).where(r.tenant_id == tenant_id, r.day == day)
    return [_row_to_day(row) for row in conn.execute(stmt).mappings()]


def first_row_day(conn: Connection, tenant_id: int) -> date | None:
    r = rollups_daily.c
    first: date | None = conn.execute(
        sa.select(sa.func.min(r.day, type_=sa.Date)).where(r.tenant_id == tenant_id)
    ).scalar()
    return first


def replace_day(conn: Connection, tenant_id: int, day: date, rows: Sequence[DayRow]) -> None:
    r = rollups_daily.c
    conn.execute(rollups_daily.delete().where(r.tenant_id == tenant_id, r.day == day))
    if rows:
        conn.execute(rollups_daily.insert(), [_day_to_row(tenant_id, row) for row in rows])


def rows_between(
    conn: Connection, principal: Principal, first: date, last: date, kind: str | None = None
) -> list[DayRow]:
    """The principal's rollup rows of the days ``first`` to ``last``, by day and kind."""
    r = rollups_daily.c
    stmt = sa.select(rollups_daily).where(
        visible_to(rollups_daily, principal), r.day >= first, r.day <= last
    )
    if kind is not None:
        stmt = stmt.where(r.kind == kind)
    stmt = stmt.order_by(r.day, r.kind)
    return [_row_to_day(row) for row in conn.execute(stmt).mappings()]


# Live


@dataclass(frozen=True, slots=True)
class LiveCounts:
    by_kind: dict[str, tuple[int, int]]  # kind: (active sessions, active users)
    users: int


def _open_at(principal: Principal, now: int) -> sa.ColumnElement[bool]:
    """Open and not overdue at ``now``, by the sweep's own rule: its deadline is read through
    the presence source's beat, which keeps a source's sessions alive past their stored
    ``expires_at``."""
    return sa.and_(visible_to(sessions, principal), IS_ACTIVE, sa.not_(overdue_rule(now)))


def live_query(principal: Principal, now: int) -> sa.Select[Any]:
    """Open sessions and their users by kind, overdue ones excluded."""
    s = sessions.c
    return (
        sa.select(s.kind, sa.func.count(), sa.func.count(sa.distinct(s.user_id)))
        .where(_open_at(principal, now))
        .group_by(s.kind)
    )


def live_counts(conn: Connection, principal: Principal, now: int) -> LiveCounts:
    """``live_query`` and the distinct users over all kinds; from the partial index."""
    s = sessions.c
    by_kind = {
        kind: (int(n), int(users)) for kind, n, users in conn.execute(live_query(principal, now))
    }
    users = conn.execute(
        sa.select(sa.func.count(sa.distinct(s.user_id))).where(_open_at(principal, now))
    )
    return LiveCounts(by_kind=by_kind, users=int(users.scalar_one()))
