"""SQL of the sweep: closing overdue sessions of every tenant, found through the index on
``sweep_at`` of active rows, chunk by chunk.

``sweep_at`` is never later than ``expires_at`` (``storage/heartbeats.py`` keeps it so), so
the index finds every overdue row; the exact deadline decides which of them are overdue. The
few rows it shows that a late beat kept open get ``sweep_at`` moved to their deadline, so the
sweeps after pass them by: the sweep's cost follows the overdue sessions, not all of them.
"""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.storage.sessions import ACTIVE, close_rows, overdue_at, timeout_values
from sessionkeeper.storage.tables import sessions as t
from sessionkeeper.storage.transaction import Transaction

# Sessions closed per statement.
SWEEP_CHUNK = 5000


def sweep_due(now: int) -> sa.ColumnElement[bool]:
    """Rows the sweep must look at by ``sweep_at`` that are not overdue: a heartbeat moved
    their deadline without moving ``sweep_at`` (``storage/heartbeats.py``)."""
    return sa.and_(t.c.status == ACTIVE, t.c.sweep_at < now, t.c.expires_at >= now)


def sweep_chunk(tx: Transaction, now: int, limit: int = SWEEP_CHUNK) -> list[tuple[int, str]]:
    """Close up to ``limit`` overdue sessions of every tenant, found through the active-expiry
    index; returns the (tenant id, session id) of each one closed."""
    # A materialised CTE is evaluated once: PostgreSQL may otherwise re-run a LIMIT subquery
    # inside an UPDATE and close more than ``limit`` rows in one statement.
    overdue = (
        sa.select(t.c.seq)
        .where(overdue_at(now))
        .order_by(t.c.sweep_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("overdue")
        .prefix_with("MATERIALIZED")
    )
    stmt = (
        t.update()
        .where(t.c.seq.in_(sa.select(overdue.c.seq)), overdue_at(now))
        .values(**timeout_values(now))
    )
    closed = [(event.tenant_id, event.session_id) for event in close_rows(tx, stmt)]
    _look_later(tx, now, limit)
    return closed


def _look_later(tx: Transaction, now: int, limit: int) -> int:
    """Move ``sweep_at`` of up to ``limit`` live rows the index showed the sweep to their
    deadline, so the next sweeps pass them by until then."""
    due = (
        sa.select(t.c.seq)
        .where(sweep_due(now))
        .order_by(t.c.sweep_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    stmt = (
        t.update()
        .where(t.c.seq.in_(sa.select(due.c.seq)), sweep_due(now))
        .values(sweep_at=t.c.expires_at)
    )
    return int(tx.conn.execute(stmt).rowcount)
