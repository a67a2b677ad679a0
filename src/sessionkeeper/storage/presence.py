"""SQL for presence sources: the active sessions a source currently holds open."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.presence import ActivePresence
from sessionkeeper.storage.dialect import dialect_insert
from sessionkeeper.storage.sessions import overdue_at, timeout_values
from sessionkeeper.storage.tables import presence_sources
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
        .where(t.c.tenant_id == tenant_id, t.c.source == source, overdue_at(now))
        .values(**timeout_values(now))
    )
    return conn.execute(stmt).rowcount


def claim_time(conn: Connection, tenant_id: int, source: str, at: int) -> bool:
    """Move the source's high-water mark to ``at``; False when a newer state was applied."""
    stmt = dialect_insert(conn, presence_sources).values(
        tenant_id=tenant_id, source=source, last_applied_at=at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "source"],
        set_={"last_applied_at": stmt.excluded.last_applied_at},
        where=presence_sources.c.last_applied_at <= stmt.excluded.last_applied_at,
    ).returning(presence_sources.c.last_applied_at)
    return conn.execute(stmt).first() is not None


def last_applied_at(conn: Connection, tenant_id: int, source: str) -> int | None:
    return conn.execute(
        sa.select(presence_sources.c.last_applied_at).where(
            presence_sources.c.tenant_id == tenant_id, presence_sources.c.source == source
        )
    ).scalar_one_or_none()
