"""Read-side SQL for admins: session statistics and the pages of the CSV export.

Both read sessions as they stand at ``now`` (``session_filters.as_of``) and take the same
filters as the listing. Statistics are computed by the database in one pass per query; the
export reads keyset pages in ascending (started_at, id) order, so memory stays flat however
many sessions there are and no read transaction is held open between pages.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.listing import SessionFilter
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.domain.stats import DAY_MS, PERCENTILES, Counts, GroupBy, Grouping
from sessionkeeper.domain.times import from_ms
from sessionkeeper.storage.dialect import json_object_keys
from sessionkeeper.storage.session_filters import (
    as_of,
    columns_as_of,
    conditions,
    subject_value,
)
from sessionkeeper.storage.sessions import duration_bounds, row_to_session
from sessionkeeper.storage.tables import sessions as t

_STATUSES = (Status.ACTIVE, Status.ENDED, Status.TIMED_OUT, Status.EXPIRED)


def _group_expression(group_by: GroupBy | None) -> sa.ColumnElement[Any]:
    if group_by is None:
        return sa.literal("", sa.String)
    if group_by.grouping is Grouping.KIND:
        return t.c.kind
    if group_by.grouping is Grouping.DAY:
        # Midnight UTC of the start, in integer arithmetic that both databases share.
        return t.c.started_at - t.c.started_at % DAY_MS
    assert group_by.subject_field is not None
    return subject_value(group_by.subject_field)


def nearest_rank(percent: int, n: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    """``nearest_rank_index`` in SQL: ``(p * n + 99) / 100`` in integers on both databases."""
    return (sa.literal(percent, sa.BigInteger) * n + 99) // 100


def stats(
    conn: Connection,
    principal: Principal,
    where: SessionFilter,
    group_by: GroupBy | None,
    now: int,
    *,
    limit: int,
) -> list[tuple[Any, Counts]]:
    """(group key, counts) per group, ordered by key (up to ``limit`` groups); one group
    with key ``""`` when ``group_by`` is None."""
    state = as_of(now)
    duration = state["ended_at"] - t.c.started_at  # NULL while active
    low, high = duration_bounds(state)
    estimated = sa.case((state["estimated"] == sa.true(), duration), else_=0)
    base = (
        sa.select(
            _group_expression(group_by).label("grp"),
            state["status"].label("status"),
            duration.label("duration"),
            estimated.label("estimated"),
            low.label("low"),
            high.label("high"),
        )
        .where(*conditions(principal, where, now))
        .subquery("base")
    )
    # Each closed duration's rank within its group, and the group's number of them.
    ranked = sa.select(
        base.c.grp,
        base.c.status,
        base.c.duration,
        base.c.estimated,
        base.c.low,
        base.c.high,
        sa.func.row_number()
        .over(partition_by=(base.c.grp, base.c.duration.is_(None)), order_by=base.c.duration)
        .label("rn"),
        sa.func.count(base.c.duration).over(partition_by=base.c.grp).label("n"),
    ).subquery("ranked")
    closed = ranked.c.duration.is_not(None)
    columns: list[sa.ColumnElement[Any]] = [ranked.c.grp, sa.func.count()]
    columns += [
        sa.func.sum(sa.case((ranked.c.status == status.value, 1), else_=0)) for status in _STATUSES
    ]
    columns.append(sa.func.sum(ranked.c.duration))
    columns += [sa.func.sum(ranked.c[name]) for name in ("estimated", "low", "high")]
    columns += [
        sa.func.max(
            sa.case(
                (sa.and_(closed, ranked.c.rn == nearest_rank(p, ranked.c.n)), ranked.c.duration)
            )
        )
        for p in PERCENTILES
    ]
    stmt = (
        sa.select(*columns)
        .group_by(ranked.c.grp)
        .order_by(ranked.c.grp.asc().nulls_last())
        .limit(limit)
    )
    found = []
    for row in conn.execute(stmt):
        grp, total, active, ended, timed_out, expired, total_ms, est, low_ms, high_ms, p50, p95 = (
            row
        )
        counts = Counts(
            total=int(total),
            active=int(active or 0),
            ended=int(ended or 0),
            timed_out=int(timed_out or 0),
            expired=int(expired or 0),
            total_duration_ms=int(total_ms or 0),
            estimated_duration_ms=int(est or 0),
            bounds_ms=(int(low_ms or 0), int(high_ms or 0)),
            p50_duration_ms=None if p50 is None else int(p50),
            p95_duration_ms=None if p95 is None else int(p95),
        )
        found.append((grp, counts))
    return found


def group_key(group_by: GroupBy, value: Any) -> str | None:
    """The group's key as the API shows it: a day as ``2026-11-21``."""
    if value is None:
        return None
    if group_by.grouping is Grouping.DAY:
        return from_ms(int(value)).date().isoformat()
    return str(value)


def export_page(
    conn: Connection,
    principal: Principal,
    where: SessionFilter,
    now: int,
    *,
    after: tuple[int, str] | None,
    limit: int,
) -> list[Session]:
    """Up to ``limit`` sessions after ``after`` (started_at, id), oldest first, as of ``now``."""
    found = conditions(principal, where, now)
    if after is not None:
        started_at, session_id = after
        # The first term bounds the index range; the second breaks ties within it.
        found.append(t.c.started_at >= started_at)
        found.append(sa.or_(t.c.started_at > started_at, t.c.id > session_id))
    stmt = (
        sa.select(*columns_as_of(now)).where(*found).order_by(t.c.started_at, t.c.id).limit(limit)
    )
    return [row_to_session(row) for row in conn.execute(stmt).mappings()]


def subject_fields(
    conn: Connection, principal: Principal, where: SessionFilter, now: int, *, limit: int
) -> list[str]:
    """The subject fields used by the matching sessions, sorted (up to ``limit``)."""
    keys = json_object_keys(conn, t.c.subject)
    key = keys.c.key
    stmt = (
        sa.select(key)
        .select_from(t.join(keys, sa.true()))
        .where(t.c.subject.is_not(None), *conditions(principal, where, now))
        .distinct()
        .order_by(key)
        .limit(limit)
    )
    return [str(name) for name in conn.execute(stmt).scalars()]
