"""SQL for presence sources: the active sessions a source currently holds open."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.presence import ActivePresence
from sessionkeeper.domain.principal import Principal
from sessionkeeper.storage.dialect import dialect_insert
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.source_beats import through_beat
from sessionkeeper.storage.tables import presence_sources
from sessionkeeper.storage.tables import sessions as t


def open_for_source(
    conn: Connection, principal: Principal, source: str, at: int
) -> tuple[list[ActivePresence], list[str]]:
    """The source's open sessions, split into those alive at ``at`` and the ids of those
    overdue by then; one read through the partial index on active source rows."""
    beat = conn.execute(
        sa.select(presence_sources.c.beat_at).where(
            visible_to(presence_sources, principal), presence_sources.c.source == source
        )
    ).scalar()
    # The source's beat as a value, not a lookup per row: all the rows share it.
    _, expires_at = through_beat(sa.literal(beat, sa.BigInteger))
    stmt = sa.select(t.c.id, t.c.user_id, t.c.kind, t.c.label, t.c.started_at, expires_at).where(
        visible_to(t, principal), t.c.source == source, t.c.status == Status.ACTIVE.value
    )
    alive: list[ActivePresence] = []
    overdue: list[str] = []
    for sid, user, kind, label, started, expires in conn.execute(stmt).all():
        if expires < at:
            overdue.append(sid)
        else:
            alive.append(ActivePresence(sid, (user, kind, label), started))
    return alive, overdue


def claim_time(conn: Connection, principal: Principal, source: str, at: int) -> bool:
    """Move the source's high-water mark to ``at``; False when a newer state was applied."""
    stmt = dialect_insert(conn, presence_sources).values(
        tenant_id=principal.tenant_id, source=source, last_applied_at=at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "source"],
        set_={"last_applied_at": stmt.excluded.last_applied_at},
        where=presence_sources.c.last_applied_at <= stmt.excluded.last_applied_at,
    ).returning(presence_sources.c.last_applied_at)
    return conn.execute(stmt).first() is not None


def beat(conn: Connection, principal: Principal, source: str, at: int) -> None:
    """Heartbeat every session the source holds open at ``at``, by one write to the source row
    (``storage/source_beats.py``). Only after the snapshot closed what it no longer lists and
    what was overdue: every session still open was then alive at ``at`` and listed."""
    conn.execute(
        presence_sources.update()
        .where(visible_to(presence_sources, principal), presence_sources.c.source == source)
        .values(beat_at=at)
    )


def last_applied_at(conn: Connection, principal: Principal, source: str) -> int | None:
    return conn.execute(
        sa.select(presence_sources.c.last_applied_at).where(
            visible_to(presence_sources, principal), presence_sources.c.source == source
        )
    ).scalar_one_or_none()
