"""Engines for SQLite (embedded default) and PostgreSQL, and the read side of the database.

Writes go through :class:`~sessionkeeper.storage.writer.Writer`; reads run on a small pool
of connections in worker threads. On SQLite the file is in WAL mode, so readers never wait
for the writer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from sessionkeeper.clock import monotonic_s
from sessionkeeper.config import SQLITE_CHECKPOINT_PAGES
from sessionkeeper.errors import InvalidInput, StorageUnavailable
from sessionkeeper.storage.watchdog import Watchdog, socket_of

if TYPE_CHECKING:
    from sessionkeeper.config import Settings

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How long a connection may take to open, a statement to run, and a request to wait for
    a pooled connection: without them a database that stops answering (packets dropped, not
    refused) holds every request for minutes."""

    connect_timeout_s: float = 3.0
    statement_timeout_s: float = 30.0
    pool_timeout_s: float = 10.0

    @property
    def answer_deadline_s(self) -> float:
        """Past this, a connection in use has stopped answering (see ``watchdog.py``): the
        server itself gives up on a statement at ``statement_timeout_s``, and its answer
        takes no longer to come than a connection takes to open."""
        return self.statement_timeout_s + max(1.0, self.connect_timeout_s)

    @property
    def ping_deadline_s(self) -> float:
        """Past this, a pooled connection's ping has gone unanswered: ``SELECT 1`` takes no
        longer than a connection takes to open. A connection that sent something while the
        network dropped it can stay dead after the network is back; found only at the
        answer deadline, each such pooled connection held its checkout for half a minute."""
        return max(1.0, self.connect_timeout_s)

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            connect_timeout_s=settings.database_connect_timeout_s,
            statement_timeout_s=settings.database_statement_timeout_s,
            pool_timeout_s=settings.write_timeout_s,
        )

    def postgresql_connect_args(self) -> dict[str, Any]:
        statement_ms = round(self.statement_timeout_s * 1000)
        return {
            "connect_timeout": max(1, round(self.connect_timeout_s)),
            # TCP keepalive and a user timeout notice a peer that vanished without closing:
            # unacknowledged data fails the connection instead of waiting for the kernel's
            # retransmissions (many minutes).
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": max(1000, round(self.connect_timeout_s * 1000)),
            # No JIT: our statements are short, and compiling the nested rule expressions of
            # a large read took LLVM minutes, during which the backend ignored every cancel.
            "options": f"-c statement_timeout={statement_ms} -c jit=off",
        }


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


def _configure_sqlite(
    engine: Engine, *, synchronous: str, checkpoint_pages: int, begin: str, cache_kib: int
) -> None:
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
        # Only a connection that commits writes checkpoints: in practice the writer's.
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: two writing processes queue on
        # busy_timeout instead of failing with a deadlock on lock upgrade.
        conn.exec_driver_sql(begin)


def create_engine(
    database_url: str,
    *,
    role: str,
    pool_size: int = 1,
    sqlite_synchronous: str = "FULL",
    sqlite_checkpoint_pages: int = SQLITE_CHECKPOINT_PAGES,
    limits: ConnectionLimits | None = None,
    watchdog: Watchdog | None = None,
) -> Engine:
    """An engine for one role: ``writer`` (one connection) or ``reader`` (a pool)."""
    limits = limits or ConnectionLimits()
    url = normalise_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url, pool_size=pool_size, max_overflow=0, pool_timeout=limits.pool_timeout_s
        )
        writer = role == "writer"
        _configure_sqlite(
            engine,
            synchronous=sqlite_synchronous,
            checkpoint_pages=sqlite_checkpoint_pages,
            begin="BEGIN IMMEDIATE" if writer else "BEGIN",
            cache_kib=WRITER_CACHE_KIB if writer else READER_CACHE_KIB,
        )
        return engine
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=limits.pool_timeout_s,
        connect_args=limits.postgresql_connect_args(),
    )
    watchdog = watchdog or Watchdog(limits.answer_deadline_s)
    _ping_on_checkout(engine, watchdog, limits.ping_deadline_s)
    return engine


# A connection given back to the pool less than this ago answered then: it is handed out
# again without a ping. Under load the writer takes its connection for every group commit,
# and a ping each time was one more round trip to PostgreSQL (two: the ping opened the
# transaction) on the path of every write. A server restarted within this window can fail
# one transaction (a 503 the client retries); after it, the broken connection is replaced.
PING_AFTER_IDLE_S = 1.0
_IDLE_SINCE = "sessionkeeper.idle_since"


def _ping_on_checkout(engine: Engine, watchdog: Watchdog, deadline_s: float) -> None:
    """Check a pooled connection before it is handed out, as ``pool_pre_ping`` would, but
    under the watchdog with a short deadline: a ping to a peer that stopped answering must not
    hang the checkout. Only connections idle for ``PING_AFTER_IDLE_S`` or more are pinged."""

    @event.listens_for(engine, "checkin")
    def idle(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = monotonic_s()

    @event.listens_for(engine, "checkout")
    def ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is not None and monotonic_s() - since < PING_AFTER_IDLE_S:
            return
        try:
            with watchdog.guard_socket(socket_of(dbapi_connection), deadline_s):
                cursor = dbapi_connection.cursor()
                try:
                    cursor.execute("SELECT 1")
                finally:
                    cursor.close()
        except Exception as exc:
            # SQLAlchemy discards the connection and checks out a fresh one.
            raise sa.exc.DisconnectionError(f"stale connection: {exc}") from exc


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


def describe(exc: sa.exc.DBAPIError) -> str:
    """The driver's own words for why the database cannot be used, on one line: a refused
    connection, a database or role that does not exist, bad credentials, a timeout."""
    text = " ".join(str(exc.orig).split())
    for noise in ("connection failed: ", "FATAL: ", "Is the server running on that host and"):
        text = text.replace(noise, "")
    text = text.split(" accepting TCP/IP connections?")[0].strip()
    return text or type(exc.orig).__name__


# PostgreSQL's deadlock victim, serialisation failure and unique violation: another process
# wrote the same rows at the same moment; the transaction may simply be run again. (A unique
# key is what an op's check before an insert stands on: a tenant's name, a rollup's day. Under
# READ COMMITTED another process's insert can land between the check and the insert; run
# again, the check sees it and the op answers as if it had come after it.)
CONFLICT_STATES = ("40P01", "40001", "23505")


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` (a DBAPIError) is a write conflict with another process."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in CONFLICT_STATES


def _missing_directory(engine: Engine | None) -> str | None:
    """SQLite creates a missing file but not a missing directory; name it instead of the
    driver's "unable to open database file"."""
    if engine is None or engine.url.get_backend_name() != "sqlite":
        return None
    if engine.url.database in (None, "", ":memory:"):
        return None
    directory = Path(engine.url.database).expanduser().resolve().parent
    return None if directory.is_dir() else f"the directory {directory} does not exist"


@contextlib.contextmanager
def storage_errors(engine: Engine | None = None) -> Iterator[None]:
    """Turn "cannot reach the database" into :class:`StorageUnavailable` (a 503) that names
    the cause."""
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
        if is_conflict(exc):
            # The driver's words here quote the statement and the row: nothing for a client.
            raise StorageUnavailable(
                "a write conflict with another server process; try again"
            ) from exc
        if not _is_unavailable(exc):
            raise
        cause = _missing_directory(engine) or describe(exc)
        raise StorageUnavailable(f"database unavailable: {cause}") from exc


class ReadPool:
    """Runs read-only functions on pooled connections in worker threads."""

    def __init__(self, engine: Engine, watchdog: Watchdog | None = None) -> None:
        self.engine = engine
        self.watchdog = watchdog or Watchdog(ConnectionLimits().answer_deadline_s)

    def run_sync(self, fn: Callable[[Connection], T]) -> T:
        with storage_errors(self.engine), self.engine.begin() as conn, self.watchdog.guard(conn):
            return fn(conn)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self.run_sync, fn)
