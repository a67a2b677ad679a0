"""SQL of the end facts (``ends_rules``): computed from the sessions, stored per day with the
rollups, and the per-day distinct users over all kinds.

One query shape computes facts everywhere — for a rollup day from the sessions closed in the
table, live for today and for open sessions read as they stand at ``now`` — so stored and
live facts are the same sums by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.domain.principal import Principal
from sessionkeeper.rollups.ends_rules import (
    BUCKETS,
    DURATION_BUCKETS_S,
    NO_SOURCE,
    EndFact,
    combine,
)
from sessionkeeper.rollups.rules import Part, Window
from sessionkeeper.rollups.tables import rollup_dirty, rollups_days, rollups_ends
from sessionkeeper.settings.rules import day_of, day_window
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.session_filters import as_of
from sessionkeeper.storage.sessions import duration_bounds, overdue_at
from sessionkeeper.storage.statuses import IS_ACTIVE
from sessionkeeper.storage.tables import sessions as t

# Ends are grouped in buckets this long, then folded into local days: every time zone's
# offset is a multiple of it.
BUCKET_MS = 15 * 60 * 1000


# The closing columns of a session closed in the table, as stored (no estimate to make).
STORED = {"ended_at": t.c.ended_at, "end_reason": t.c.end_reason, "estimated": t.c.estimated}


def _facts(
    conn: Connection,
    where: sa.ColumnElement[bool],
    state: Mapping[str, sa.ColumnElement[Any]],
    tz: ZoneInfo,
    day: date | None = None,
) -> list[EndFact]:
    """The facts of the sessions ``where`` selects, closed as ``state`` says (``STORED``, or
    ``as_of(now)`` for an overdue session the sweep will close), by the local day of their
    end (``day``: all of them end on that day). Grouped by histogram bucket too, so that each
    row's work is one pass of the expressions, and, over several days, by 15-minute bucket
    of the end; the groups are folded here."""
    ended = state["ended_at"]
    duration = ended - t.c.started_at
    low, high = duration_bounds(state)
    bucket = sa.case(
        *((duration < bound * 1000, index) for index, bound in enumerate(DURATION_BUCKETS_S)),
        else_=len(DURATION_BUCKETS_S),
    ).label("bucket")
    at = (ended - ended % BUCKET_MS if day is None else sa.literal(0, sa.BigInteger)).label("at")
    source = sa.func.coalesce(t.c.source, NO_SOURCE).label("source")
    reason = state["end_reason"].label("reason")
    stmt = (
        sa.select(
            at,
            t.c.kind,
            source,
            reason,
            bucket,
            sa.func.count(),
            sa.func.sum(duration),
            sa.func.sum(sa.case((state["estimated"] == sa.true(), duration), else_=0)),
            sa.func.sum(high - low),
            sa.func.sum(sa.case((t.c.amended_count > 0, 1), else_=0)),
            sa.func.sum(sa.case((t.c.continues.is_not(None), 1), else_=0)),
        )
        .where(where)
        .group_by(*([at] if day is None else []), t.c.kind, source, reason, bucket)
    )
    found = []
    for row in conn.execute(stmt):
        counts = [0] * BUCKETS
        counts[int(row[4])] = int(row[5])
        found.append(
            EndFact(
                day=day_of(int(row[0]), tz) if day is None else day,
                kind=row[1],
                source=row[2],
                reason=EndReason(row[3]),
                sessions=int(row[5]),
                time_ms=int(row[6] or 0),
                estimated_ms=int(row[7] or 0),
                bound_width_ms=int(row[8] or 0),
                amended=int(row[9] or 0),
                continuations=int(row[10] or 0),
                duration_buckets=tuple(counts),
            )
        )
    return combine(found)  # the buckets of one day folded together


def live_facts(
    conn: Connection,
    principal: Principal,
    window: Window,
    now: int,
    tz: ZoneInfo,
    *,
    open_only: bool = False,
    day: date | None = None,
) -> list[EndFact]:
    """Facts of the principal's sessions whose end as of ``now`` lies in ``window``
    (``open_only``: of those still open in the table). Two reads, which together are
    ``ended_between``: the sessions closed in the table by their stored end (the index of
    ends), and the open ones that are overdue by the end the sweep will give them (the
    sweep's partial index) — one read with an OR would walk the tenant's every end.
    ``day``: the window is that local day."""
    estimate = as_of(now)["ended_at"]
    overdue = sa.and_(
        visible_to(t, principal),
        IS_ACTIVE,
        overdue_at(now),
        estimate >= window[0],
        estimate < window[1],
    )
    facts = _facts(conn, overdue, as_of(now), tz, day)
    if not open_only:
        closed = sa.and_(
            visible_to(t, principal),
            t.c.ended_at >= window[0],
            t.c.ended_at < window[1],
            sa.not_(IS_ACTIVE),
        )
        facts += _facts(conn, closed, STORED, tz, day)
    return combine(facts)


def closed_facts(conn: Connection, tenant_id: int, day: date, tz: ZoneInfo) -> list[EndFact]:
    """Facts of the tenant's sessions closed in the table that ended on the local ``day``:
    what a rollup day keeps (an open session changes with time; it is read live)."""
    window = day_window(day, tz)
    where = sa.and_(
        t.c.tenant_id == tenant_id,
        t.c.ended_at >= window[0],
        t.c.ended_at < window[1],
        sa.not_(IS_ACTIVE),
    )
    return _facts(conn, where, STORED, tz, day)


def replace_day(
    conn: Connection, tenant_id: int, day: date, facts: Sequence[EndFact], users: int
) -> None:
    """Store a day's facts and distinct users in place of what was stored."""
    e, d = rollups_ends.c, rollups_days.c
    conn.execute(rollups_ends.delete().where(e.tenant_id == tenant_id, e.day == day))
    conn.execute(rollups_days.delete().where(d.tenant_id == tenant_id, d.day == day))
    if facts:
        conn.execute(
            rollups_ends.insert(),
            [
                {
                    "tenant_id": tenant_id,
                    "day": day,
                    "kind": f.kind,
                    "source": f.source,
                    "end_reason": f.reason.value,
                    "sessions": f.sessions,
                    "time_ms": f.time_ms,
                    "estimated_ms": f.estimated_ms,
                    "bound_width_ms": f.bound_width_ms,
                    "amended": f.amended,
                    "continuations": f.continuations,
                    "duration_buckets": list(f.duration_buckets),
                }
                for f in facts
            ],
        )
    if users:
        conn.execute(rollups_days.insert(), [{"tenant_id": tenant_id, "day": day, "users": users}])


def stored_facts(conn: Connection, tenant_id: int, first: date, last: date) -> list[EndFact]:
    e = rollups_ends.c
    stmt = sa.select(rollups_ends).where(e.tenant_id == tenant_id, e.day >= first, e.day <= last)
    return [
        EndFact(
            day=row.day,
            kind=row.kind,
            source=row.source,
            reason=EndReason(row.end_reason),
            sessions=row.sessions,
            time_ms=row.time_ms,
            estimated_ms=row.estimated_ms,
            bound_width_ms=row.bound_width_ms,
            amended=row.amended,
            continuations=row.continuations,
            duration_buckets=tuple(int(n) for n in row.duration_buckets),
        )
        for row in conn.execute(stmt)
    ]


def dirty_days(conn: Connection, tenant_id: int, first: date, last: date) -> set[date]:
    """The days whose sessions part waits for a refresh: their stored facts may be stale."""
    d = rollup_dirty.c
    stmt = sa.select(d.day).where(
        d.tenant_id == tenant_id,
        d.part == Part.SESSIONS.value,
        d.day >= first,
        d.day <= last,
    )
    return {row[0] for row in conn.execute(stmt)}


def day_users(conn: Connection, principal: Principal, first: date, last: date) -> dict[date, int]:
    """Distinct users over all kinds per day, as the last refresh of each day counted them."""
    d = rollups_days.c
    stmt = sa.select(d.day, d.users).where(
        visible_to(rollups_days, principal), d.day >= first, d.day <= last
    )
    return {day: int(users) for day, users in conn.execute(stmt)}
