"""SQL of the logins logged out (``dashboard/tables.py``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.dashboard.tables import dashboard_logouts as t
from sessionkeeper.storage.dialect import insert_ignoring_conflicts


def record(conn: Connection, nonce: str, expires_at: int, now: int) -> None:
    """The login of ``nonce`` is over; those expired anyway are forgotten meanwhile, so the
    table holds at most the logins of the last login lifetime."""
    conn.execute(sa.delete(t).where(t.c.expires_at <= now))
    conn.execute(insert_ignoring_conflicts(conn, t).values(nonce=nonce, expires_at=expires_at))


def logged_out(conn: Connection, nonce: str) -> bool:
    found = conn.execute(sa.select(t.c.nonce).where(t.c.nonce == nonce)).first()
    return found is not None
