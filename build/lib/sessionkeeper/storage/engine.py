"""Engines for SQLite (embedded default) and PostgreSQL, and the read side of the database.

Writes go through :class:`~sessionkeeper.storage.writer.Writer`; reads run on a small pool
of connections in worker threads. On SQLite the file is in WAL mode, so readers never wait
for the writer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from sessionkeeper.errors import InvalidInput, StorageUnavailable

T = TypeVar("T")

WRITER_CACHE_KIB = 128 * 1024
READER_CACHE_KIB = 16 * 1024


def normalise_url(database_url: str) -> sa.URL:
    """Accept the URLs operators write (``postgresql://``) and pick the driver we ship."""
    url = sa.make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if not url.drivername.startswith(("sqlite", "postgresql")):
        raise ValueError(f"unsupported database URL {url.render_as_string(hide_password=True)}")
    return url


def _configure_sqlite(engine: Engine, *, synchronous: str, begin: str, cache_kib: int) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin hook, not the driver, decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # The default 2 MiB page cache holds a few thousand sessions' index pages; beyond
        # that every heartbeat and sweep would read its pages back from the OS.
        cursor.execute(f"PRAGMA cache_size=-{cache_kib}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: two writing processes queue on
        # busy_timeout instead of failing with a deadlock on lock upgrade.
        conn.exec_driver_sql(begin)


def create_engine(
    database_url: str, *, role: str, pool_size: int = 1, sqlite_synchronous: str = "FULL"
) -> Engine:
    """An engine for one role: ``writer`` (one connection) or ``reader`` (a pool)."""
    url = normalise_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=30)
        writer = role == "writer"
        _configure_sqlite(
            engine,
            synchronous=sqlite_synchronous,
            begin="BEGIN IMMEDIATE" if writer else "BEGIN",
            cache_kib=WRITER_CACHE_KIB if writer else READER_CACHE_KIB,
        )
        return engine
    return sa.create_engine(
        url, pool_size=pool_size, max_overflow=0, pool_pre_ping=True, pool_timeout=30
    )


# SQLite reports both "cannot get at the file" and mistakes in SQL as OperationalError;
# only these messages mean the database is (for now) out of reach.
_SQLITE_UNAVAILABLE = ("locked", "unable to open", "disk i/o", "busy", "readonly", "disk is full")


def _is_unavailable(exc: sa.exc.DBAPIError) -> bool:
    if exc.connection_invalidated or isinstance(exc, sa.exc.InterfaceError):
        return True
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    if type(exc.orig).__module__.startswith("sqlite3"):
        return any(fragment in str(exc.orig).lower() for fragment in _SQLITE_UNAVAILABLE)
    return True  # psycopg raises OperationalError for connection and server failures


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Turn "cannot reach the database" into :class:`StorageUnavailable` (a 503)."""
    try:
        yield
    except sa.exc.TimeoutError as exc:  # no pooled connection became free in time
        raise StorageUnavailable("database unavailable: connection pool exhausted") from exc
    except sa.exc.DataError as exc:
        # A value the API let through but the database refuses (a safety net: the API's
        # own validation should catch these first).
        raise InvalidInput(
            f"a value was refused by the database: {exc.orig}", field="body"
        ) from exc
    except sa.exc.DBAPIError as exc:
        if not _is_unavailable(exc):
            raise
        raise StorageUnavailable(f"database unavailable: {type(exc.orig).__name__}") from exc


class ReadPool:
    """Runs read-only functions on pooled connections in worker threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run_sync(self, fn: Callable[[Connection], T]) -> T:
        with storage_errors(), self.engine.begin() as conn:
            return fn(conn)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self.run_sync, fn)
