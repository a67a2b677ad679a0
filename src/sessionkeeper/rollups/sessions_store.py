"""SQL of a window's sessions part (``rollups.rules``, module docstring): every figure of a
rollup's sessions, computed by the database in one statement.

The database sorts and sums the window's sessions; the process receives one row per group.
Summing them in the process instead cost a read of every session of the day, every minute
the day is dirty: today's rollup, refreshed while sessions beat, held the interpreter for
a fifth of a second per 10,000 sessions and stalled every request meanwhile.

Each session is read as it stands at ``now`` (``session_filters.as_of``): an open one counts
its time so far, an overdue one ends where the sweep will close it. The percentiles are
nearest-rank (``domain.stats``), ranked by a window function in integer arithmetic, as the
session statistics rank theirs.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.rollups.rules import STATUSES, Window
from sessionkeeper.storage.dialect import greatest, least
from sessionkeeper.storage.session_filters import as_of
from sessionkeeper.storage.session_reports import nearest_rank
from sessionkeeper.storage.sessions import duration_bounds
from sessionkeeper.storage.statuses import IS_ACTIVE
from sessionkeeper.storage.tables import sessions as t

# The key of the one group of an answer not split by kind.
ALL = ""


def _spans(
    tenant_id: int, window: Window, longest_ms: int, now: int, kind: str | None, by_kind: bool
) -> sa.Subquery:
    """One row per session active during ``window``, with its share of the window."""
    start, end = window
    state = as_of(now)
    ended = greatest(sa.func.coalesce(state["ended_at"], now), t.c.started_at)
    low, high = duration_bounds(state)  # NULL while open: its end is then known exactly
    earliest = sa.case((low.is_(None), ended), else_=t.c.started_at + low)
    latest = sa.case((high.is_(None), ended), else_=t.c.started_at + high)
    opened = greatest(t.c.started_at, sa.literal(start, sa.BigInteger))

    def share(until: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """How much of the session's time from its start to ``until`` lies in the window."""
        return greatest(least(until, sa.literal(end, sa.BigInteger)) - opened, sa.literal(0))

    started_inside = sa.and_(t.c.started_at >= start, t.c.started_at < end)
    covered = share(ended)
    conditions = [
        t.c.tenant_id == tenant_id,
        t.c.started_at < end,
        t.c.started_at >= start - longest_ms,
        # Open (every open session is active), or ended since the window began: the index
        # of ends holds closed sessions only, and the partial indexes of active rows the rest.
        sa.or_(IS_ACTIVE, t.c.ended_at >= start),
        # Active during the window: started in it, or covered some of it.
        sa.or_(started_inside, least(ended, sa.literal(end, sa.BigInteger)) > opened),
    ]
    if kind is not None:
        conditions.append(t.c.kind == kind)
    estimated = sa.and_(low.is_not(None), state["estimated"] == sa.true())
    return (
        sa.select(
            (t.c.kind if by_kind else sa.literal(ALL, sa.String)).label("grp"),
            t.c.user_id,
            state["status"].label("status"),
            sa.case((started_inside, 1), else_=0).label("started"),
            covered.label("covered"),
            sa.case((estimated, covered), else_=0).label("estimated"),
            share(earliest).label("low"),
            share(latest).label("high"),
        )
        .where(*conditions)
        .subquery("spans")
    )


def summarise(
    conn: Connection,
    tenant_id: int,
    window: Window,
    longest_ms: int,
    now: int,
    *,
    kind: str | None = None,
    by_kind: bool = True,
) -> tuple[dict[str, dict[str, Any]], int]:
    """The sessions part of each kind (or of all, under ``ALL``) over ``window``, and the
    distinct users over all kinds: a user of two kinds is one user there, where the rows per
    kind count them once each. Reads the sessions started at most ``longest_ms`` before the
    window (no session of the tenant lasted longer)."""
    spans = _spans(tenant_id, window, longest_ms, now, kind, by_kind)
    ranked = sa.select(
        *spans.c,
        sa.func.row_number().over(partition_by=spans.c.grp, order_by=spans.c.covered).label("rn"),
        sa.func.count().over(partition_by=spans.c.grp).label("n"),
        # 1 on one row of each user: summed over the groups, the distinct users of all.
        sa.func.row_number().over(partition_by=spans.c.user_id).label("nth_of_user"),
    ).subquery("ranked")
    r = ranked.c
    stmt = sa.select(
        r.grp,
        sa.func.count(),
        sa.func.sum(r.started),
        sa.func.sum(r.covered),
        sa.func.sum(r.estimated),
        sa.func.sum(r.low),
        sa.func.sum(r.high),
        sa.func.count(sa.distinct(r.user_id)),
        sa.func.sum(sa.case((r.nth_of_user == 1, 1), else_=0)),
        *(sa.func.max(sa.case((r.rn == nearest_rank(p, r.n), r.covered))) for p in (50, 95)),
        *(sa.func.sum(sa.case((r.status == status, 1), else_=0)) for status in STATUSES),
    ).group_by(r.grp)
    parts: dict[str, dict[str, Any]] = {}
    users_of_all = 0
    for row in conn.execute(stmt):
        grp, active, started, total, estimated, low, high, users, first_seen = row[:9]
        p50, p95 = row[9:11]
        users_of_all += int(first_seen)
        parts[grp] = {
            "sessions_started": int(started),
            "sessions_active": int(active),
            "users": int(users),
            "duration_total_ms": int(total),
            "duration_estimated_ms": int(estimated),
            "duration_low_ms": int(low),
            "duration_high_ms": int(high),
            "duration_p50_ms": int(p50),
            "duration_p95_ms": int(p95),
            "by_status": dict(zip(STATUSES, map(int, row[11:]), strict=True)),
        }
    return parts, users_of_all
