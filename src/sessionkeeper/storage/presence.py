"""SQL for presence sources: the active sessions a source currently holds open."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.presence import ActiveRow
from sessionkeeper.domain.principal import Principal
from sessionkeeper.storage.dialect import dialect_insert, plain_rows
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.source_beats import through_beat
from sessionkeeper.storage.statuses import IS_ACTIVE, status_is
from sessionkeeper.storage.tables import presence_sources
from sessionkeeper.storage.tables import sessions as t

# The layout of an open session as read here: the presence rules' row (``ActiveRow``), then
# its deadline as of the read, the timeout of its policy, and its own last beat (the stored
# column, without the source's).
OPEN_ROW = (
    "id",
    "user_id",
    "kind",
    "label",
    "started_at",
    "expires_at",
    "timeout_ms",
    "own_last_seen_at",
)
_EXPIRES_OF = itemgetter(OPEN_ROW.index("expires_at"))


def open_for_source(
    conn: Connection, principal: Principal, source: str, at: int
) -> tuple[Sequence[ActiveRow], list[ActiveRow]]:
    """The source's open sessions, split into those alive at ``at`` and those overdue by then
    (rows as the presence rules take them: :data:`OPEN_ROW`); one read through the partial
    index on active source rows."""
    # The source's beat as one value, not a lookup per row: all the rows share it, and an
    # uncorrelated subquery is evaluated once per statement, in the same round trip.
    beat = (
        sa.select(presence_sources.c.beat_at)
        .where(visible_to(presence_sources, principal), presence_sources.c.source == source)
        .scalar_subquery()
    )
    stmt = sa.select(
        t.c.id,
        t.c.user_id,
        t.c.kind,
        t.c.label,
        t.c.started_at,
        through_beat(beat)[1],
        t.c.timeout_ms,
        t.c.last_seen_at,
    ).where(visible_to(t, principal), t.c.source == source, IS_ACTIVE)
    rows = plain_rows(conn.execute(stmt))
    # The usual case, nothing overdue, is one pass in C over the deadlines: a source holds
    # thousands of sessions.
    if not rows or min(map(_EXPIRES_OF, rows)) >= at:
        return rows, []
    alive = [row for row in rows if _EXPIRES_OF(row) >= at]
    return alive, [row for row in rows if _EXPIRES_OF(row) < at]


def expires_of(row: ActiveRow) -> int:
    """The deadline of a row read here."""
    deadline: int = _EXPIRES_OF(row)
    return deadline


_ROW_COLUMNS = (
    t.c.id,
    t.c.user_id,
    t.c.kind,
    t.c.label,
    t.c.started_at,
    t.c.expires_at,
    t.c.timeout_ms,
    t.c.last_seen_at,
)


def ended_since(conn: Connection, principal: Principal, source: str, at: int) -> list[ActiveRow]:
    """The source's sessions that were open at ``at`` and ended after it by a fact (an end,
    lost presence), as :data:`OPEN_ROW` rows: a snapshot of ``at`` delivered after the end
    finds them already covering ``at``, and starts nothing for them. Read through the index
    of ends: for a snapshot delivered at once only the ends of the last moments."""
    stmt = sa.select(*_ROW_COLUMNS).where(
        visible_to(t, principal),
        t.c.ended_at >= at,
        t.c.source == source,
        t.c.started_at <= at,
        sa.not_(status_is(Status.TIMED_OUT)),
    )
    return list(plain_rows(conn.execute(stmt)))


def timed_out_alive_at(
    conn: Connection, principal: Principal, source: str, at: int, longest_timeout_ms: int
) -> list[ActiveRow]:
    """The source's sessions closed by timeout that were alive at ``at`` (by the deadline
    their last beat set), as :data:`OPEN_ROW` rows: a snapshot of ``at`` that arrives after
    the sweep closed them is late evidence about them, as a late heartbeat is.

    Read through the partial index on timed-out source rows by end, which only a silent
    source fills: such a session ended (at its estimated end) no earlier than its last beat,
    which its deadline followed by its timeout, at most ``longest_timeout_ms``. (A deadline
    held through the service's own outage can lie further on; such a session is missed.)"""
    stmt = sa.select(*_ROW_COLUMNS).where(
        visible_to(t, principal),
        t.c.source == source,
        status_is(Status.TIMED_OUT),
        t.c.ended_at >= at - longest_timeout_ms,
        t.c.expires_at >= at,
    )
    return list(plain_rows(conn.execute(stmt)))


def claim_time(conn: Connection, principal: Principal, source: str, at: int) -> int | None:
    """Move the source's high-water mark to ``at``; the source's revision, or None when a newer
    state was applied. The row stays locked to the end of the transaction, so the revision
    holds until then but for this transaction's own writes."""
    stmt = dialect_insert(conn, presence_sources).values(
        tenant_id=principal.tenant_id, source=source, last_applied_at=at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "source"],
        set_={"last_applied_at": stmt.excluded.last_applied_at},
        where=presence_sources.c.last_applied_at <= stmt.excluded.last_applied_at,
    ).returning(presence_sources.c.revision)
    revision: int | None = conn.execute(stmt).scalar_one_or_none()
    return revision


def beat(conn: Connection, principal: Principal, source: str, at: int) -> int:
    """Heartbeat every session the source holds open at ``at``, by one write to the source row
    (``storage/source_beats.py``); the source's revision after it. Only after the snapshot
    closed what it no longer lists and what was overdue: every session still open was then
    alive at ``at`` and listed."""
    revision: int = conn.execute(
        presence_sources.update()
        .where(visible_to(presence_sources, principal), presence_sources.c.source == source)
        .values(beat_at=at)
        .returning(presence_sources.c.revision)
    ).scalar_one()
    return revision


def revision_of(conn: Connection, principal: Principal, source: str) -> int:
    """The source's revision (its row exists: the transaction claimed it)."""
    revision: int = conn.execute(
        sa.select(presence_sources.c.revision).where(
            visible_to(presence_sources, principal), presence_sources.c.source == source
        )
    ).scalar_one()
    return revision


def last_applied_at(conn: Connection, principal: Principal, source: str) -> int | None:
    return conn.execute(
        sa.select(presence_sources.c.last_applied_at).where(
            visible_to(presence_sources, principal), presence_sources.c.source == source
        )
    ).scalar_one_or_none()
