"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT that knows ``ON CONFLICT``, for the connection's database."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignoring_conflicts(conn: Connection, table: sa.Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING``."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


def upsert(conn: Connection, table: sa.Table, values: dict[str, Any], keys: list[str]) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` setting every non-key column."""
    stmt = dialect_insert(conn, table).values(**values)
    updates = {name: stmt.excluded[name] for name in values if name not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates)
