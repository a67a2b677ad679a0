"""The heartbeat rule of ``lifecycle.heartbeat`` in SQL: when a beat moves a session, and
what it sets. Every statement that applies beats is built from these two."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from sessionkeeper.storage.sessions import ACTIVE
from sessionkeeper.storage.source_beats import EXPIRES_AT, LAST_SEEN_AT, Moment, deadline_after
from sessionkeeper.storage.tables import sessions as t


def heartbeat_condition(at: Moment) -> sa.ColumnElement[bool]:
    """Active, ``at`` later than the last beat, and the session still alive at ``at``
    (its source's beat included: ``storage/source_beats.py``)."""
    return sa.and_(t.c.status == ACTIVE, at > LAST_SEEN_AT, at <= EXPIRES_AT)


def heartbeat_values(at: Moment) -> dict[str, Any]:
    """``last_seen_at`` moves to ``at``; the deadline to a timeout after it, never back before
    the one held after an outage (``lifecycle._extend``).

    ``sweep_at`` (in the sweep's and the live counts' indexes) moves only when it would fall
    due within two intervals — about once a timeout for a client that beats on schedule — or
    to keep it no later than the deadline (a shortened timeout). Every other beat changes no
    indexed column."""
    deadline = deadline_after(at)
    # Two intervals: a beat that comes a little late still finds sweep_at ahead.
    due_soon = t.c.sweep_at < at + 2 * t.c.heartbeat_interval_ms
    sweep_at = sa.case((sa.or_(due_soon, t.c.sweep_at > deadline), deadline), else_=t.c.sweep_at)
    return {"last_seen_at": at, "expires_at": deadline, "sweep_at": sweep_at}
