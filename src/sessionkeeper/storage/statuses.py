"""Conditions on a session's status, with the status written into the SQL.

A status compared with a bound parameter costs a re-plan on SQLite: the sessions table has
partial indexes on ``status = 'active'``, and when a bound value could decide whether such an
index applies, SQLite prepares the statement again at every execution (a heartbeat group's
UPDATE took 0.28 ms instead of 0.03 ms, most of it that re-plan). PostgreSQL's generic plan
of a prepared statement cannot use those indexes either. The statuses are a closed set of
plain words, so writing them into the SQL is safe, and each one gives one cached statement.
"""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.storage.tables import sessions


def status_is(status: Status) -> sa.ColumnElement[bool]:
    """``sessions.status = '<status>'``, the value in the SQL."""
    return sessions.c.status == sa.literal_column(f"'{status.value}'")


IS_ACTIVE = status_is(Status.ACTIVE)
