"""SQL of the data-quality report: partial sums per group key and end reason, in one pass
over the tenant's sessions that ended in the window (read as they stand now: an overdue
session counts as the sweep will close it)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.domain.principal import Principal
from sessionkeeper.quality.rules import GroupBy, Partial
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.session_filters import as_of, ended_between
from sessionkeeper.storage.sessions import duration_bounds
from sessionkeeper.storage.tables import sessions as t

# Days are folded from buckets this long: every time zone's offset is a multiple of it.
BUCKET_MS = 15 * 60 * 1000
# The source of sessions started through the API, not by a presence source or a link.
NO_SOURCE = "api"


def _key(group_by: GroupBy, ended_at: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    if group_by is GroupBy.KIND:
        return t.c.kind
    if group_by is GroupBy.SOURCE:
        return sa.func.coalesce(t.c.source, NO_SOURCE)
    return ended_at - ended_at % BUCKET_MS


def partials(
    conn: Connection, principal: Principal, group_by: GroupBy, window: tuple[int, int], now: int
) -> list[Partial]:
    state = as_of(now)
    ended_at = state["ended_at"]
    duration = ended_at - t.c.started_at
    low, high = duration_bounds(state)
    key = _key(group_by, ended_at).label("key")
    stmt = (
        sa.select(
            key,
            state["end_reason"].label("reason"),
            sa.func.count(),
            sa.func.sum(duration),
            sa.func.sum(sa.case((state["estimated"] == sa.true(), duration), else_=0)),
            sa.func.sum(high - low),
            sa.func.sum(sa.case((t.c.amended_count > 0, 1), else_=0)),
            sa.func.sum(sa.case((t.c.continues.is_not(None), 1), else_=0)),
        )
        .where(visible_to(t, principal), ended_between(now, window[0], window[1]))
        .group_by(key, state["end_reason"])
    )
    return [
        Partial(
            key=str(row[0]),
            reason=EndReason(row[1]),
            sessions=int(row[2]),
            time_ms=int(row[3] or 0),
            estimated_ms=int(row[4] or 0),
            bound_width_ms=int(row[5] or 0),
            amended=int(row[6] or 0),
            continuations=int(row[7] or 0),
        )
        for row in conn.execute(stmt)
    ]
