"""The dashboard's one query of its own: the sessions listing oldest first.

Newest first is the kernel's listing (``services.sessions.list``); the other direction reads
the same filters (``storage/session_filters.py``) in the opposite order, so a filter means
exactly what it means in the API, the stats and the export.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.listing import Cursor, SessionFilter
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.storage.session_filters import conditions as filter_conditions
from sessionkeeper.storage.sessions import SESSION_COLUMNS, row_to_session
from sessionkeeper.storage.tables import sessions as t


def list_oldest_first(
    conn: Connection,
    principal: Principal,
    where: SessionFilter,
    *,
    limit: int,
    after: Cursor | None,
    now: int,
) -> list[Session]:
    """A page of sessions matching ``where`` as they stand at ``now``, oldest first."""
    conditions = filter_conditions(principal, where, now)
    if after is not None:
        conditions.append(
            sa.or_(
                t.c.started_at > after.started_at,
                sa.and_(t.c.started_at == after.started_at, t.c.id > after.id),
            )
        )
    stmt = (
        sa.select(*SESSION_COLUMNS)
        .where(*conditions)
        .order_by(t.c.started_at.asc(), t.c.id.asc())
        .limit(limit)
    )
    return [row_to_session(row).as_of(now) for row in conn.execute(stmt).mappings()]
