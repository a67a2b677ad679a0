"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT that knows ``ON CONFLICT``, for the connection's database."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignoring_conflicts(conn: Connection, table: sa.Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING``."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


def upsert(
    conn: Connection,
    table: sa.Table,
    values: dict[str, Any],
    keys: list[str],
    where: sa.ColumnElement[bool] | None = None,
    merge: Callable[[Any], dict[str, Any]] | None = None,
) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` setting every non-key column; with ``where``,
    only existing rows that meet it are updated; ``merge`` gives, from the statement's
    ``excluded`` values, the columns an existing row takes otherwise than replaced."""
    stmt = dialect_insert(conn, table).values(**values)
    updates = {name: stmt.excluded[name] for name in values if name not in keys}
    if merge is not None:
        updates.update(merge(stmt.excluded))
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates, where=where)


def plain_rows(result: sa.CursorResult[Any]) -> list[tuple[Any, ...]]:
    """All rows of ``result`` as the driver's tuples, closing it. For reads of thousands of
    rows of plain columns (text, integers), which need no conversion: a ``Row`` each costs
    more than the driver's fetch (4 ms of a 10,000-row read on PostgreSQL)."""
    dbapi_error = result.context.dialect.loaded_dbapi.Error
    try:
        return list(result.cursor.fetchall())
    except dbapi_error as exc:
        # SQLite steps through the rows as they are fetched, so a failure can surface here,
        # past SQLAlchemy: raise it as SQLAlchemy would, so that a lost database is a 503.
        raise sa.exc.DBAPIError.instance(None, None, exc, dbapi_error) from exc
    finally:
        result.close()


def json_object_keys(conn: Connection, column: sa.ColumnElement[Any]) -> sa.TableValuedAlias:
    """The keys of a JSON object column as a table with one column, ``key``, to join on."""
    if conn.dialect.name == "postgresql":
        return sa.func.json_object_keys(column).table_valued("key").render_derived("keys")
    return sa.func.json_each(column).table_valued("key")


def among(conn: Connection, column: sa.ColumnElement[Any], values: Any) -> Any:
    """``column IN values``. On PostgreSQL spelled ``column = ANY(array)``: one parameter,
    where an IN list has one placeholder per value, and the driver parses a query's text
    again on every execution once it is too long for its cache. For a thousand ids that
    parse cost more than the query."""
    if conn.dialect.name == "postgresql":
        array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == sa.any_(array)
    return column.in_(values)


class greatest(sa.sql.functions.GenericFunction[int]):
    """The largest of its (non-NULL) arguments: ``GREATEST`` on PostgreSQL, the scalar ``max``
    on SQLite. Each argument is written once, where a CASE would write the winner twice: rules
    nest these, and the copies multiplied through every level of a statement."""

    type = sa.BigInteger()
    inherit_cache = True


class least(sa.sql.functions.GenericFunction[int]):
    """The smallest of its (non-NULL) arguments: ``LEAST``, or the scalar ``min`` on SQLite."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(least, "sqlite")
def _least_sqlite(element: least, compiler: Any, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"
