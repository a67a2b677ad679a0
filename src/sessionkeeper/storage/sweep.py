"""SQL of the sweep: closing overdue sessions of every tenant, found through the index on
``sweep_at`` of active rows, chunk by chunk.

``sweep_at`` is never later than ``expires_at`` (``storage/heartbeats.py`` keeps it so), so
the index finds every overdue row; the exact deadline decides which of them are overdue. The
few rows it shows that a late beat kept open get ``sweep_at`` moved to their deadline, so the
sweeps after pass them by: the sweep's cost follows the overdue sessions, not all of them.
The deadline is read through a presence source's beat (``storage/source_beats.py``), so the
sessions a source keeps listing come up here about once a timeout and are passed on, and a
silent source's sessions close through its last beat.
"""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.storage.sessions import close_rows, overdue_at, timeout_values
from sessionkeeper.storage.source_beats import EXPIRES_AT
from sessionkeeper.storage.statuses import IS_ACTIVE
from sessionkeeper.storage.tables import sessions as t
from sessionkeeper.storage.transaction import Transaction

# Sessions closed per statement.
SWEEP_CHUNK = 5000


def sweep_due(now: int) -> sa.ColumnElement[bool]:
    """Rows the sweep must look at by ``sweep_at`` that are not overdue: a heartbeat moved
    their deadline without moving ``sweep_at`` (``storage/heartbeats.py``)."""
    return sa.and_(IS_ACTIVE, t.c.sweep_at < now, now <= EXPIRES_AT)


def _first_by_sweep_at(condition: sa.ColumnElement[bool], limit: int) -> sa.Update:
    """An UPDATE of up to ``limit`` rows matching ``condition``, earliest ``sweep_at`` first,
    skipping rows another process holds; its values are the caller's.

    A materialised CTE is evaluated once: PostgreSQL may otherwise re-run a LIMIT subquery
    inside an UPDATE and touch more than ``limit`` rows in one statement."""
    chosen = (
        sa.select(t.c.seq)
        .where(condition)
        .order_by(t.c.sweep_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("chosen")
        .prefix_with("MATERIALIZED")
    )
    return t.update().where(t.c.seq.in_(sa.select(chosen.c.seq)), condition)


def sweep_chunk(tx: Transaction, now: int, limit: int = SWEEP_CHUNK) -> list[tuple[int, str]]:
    """Close up to ``limit`` overdue sessions of every tenant, found through the index on
    ``sweep_at``; returns the (tenant id, session id) of each one closed. Then move
    ``sweep_at`` of up to ``limit`` live rows the index showed to their deadline, so the next
    sweeps pass them by until then."""
    closing = _first_by_sweep_at(overdue_at(now), limit).values(**timeout_values(now))
    closed = [(event.tenant_id, event.session_id) for event in close_rows(tx, closing)]
    later = _first_by_sweep_at(sweep_due(now), limit).values(sweep_at=EXPIRES_AT)
    tx.conn.execute(later)
    return closed
