"""SQL for presence sources: the active sessions a source currently holds open."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.presence import ActivePresence
from sessionkeeper.storage.sessions import _overdue, _timeout_values
from sessionkeeper.storage.tables import sessions as t


def active_for_source(
    conn: Connection, tenant_id: int, source: str, alive_at: int
) -> list[ActivePresence]:
    """The source's sessions still alive at ``alive_at``: only the columns matching needs,
    read through the partial index on active source rows."""
    stmt = sa.select(t.c.id, t.c.user_id, t.c.kind, t.c.label, t.c.started_at).where(
        t.c.tenant_id == tenant_id,
        t.c.source == source,
        t.c.status == Status.ACTIVE.value,
        t.c.expires_at >= alive_at,
    )
    return [
        ActivePresence(session_id=row[0], key=(row[1], row[2], row[3]), started_at=row[4])
        for row in conn.execute(stmt)
    ]


def close_overdue_for_source(conn: Connection, tenant_id: int, source: str, now: int) -> int:
    """Close, as the sweep would, the source's sessions that expired before ``now``."""
    stmt = (
        t.update()
        .where(t.c.tenant_id == tenant_id, t.c.source == source, _overdue(now))
        .values(**_timeout_values(now))
    )
    return conn.execute(stmt).rowcount
