"""Cuts the database connections that stopped answering.

Timeouts on the connection (``connect_timeout``, TCP keepalive and user timeout,
``statement_timeout``) cover a server that is slow or gone from the network. One case is left:
a peer that accepts and acknowledges but never answers (a hung server, a proxy or balancer
that lost its upstream). The query then waits forever, and with it the one writer thread of
the process and every request behind it. The watchdog gives every guarded use of a connection
a deadline; past it, the connection's socket is shut down, so the driver fails with an error
the caller treats as "database unavailable" (a 503) and the next use opens a fresh connection.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import Connection

from sessionkeeper.clock import monotonic_s

log = logging.getLogger("sessionkeeper.storage")
CHECK_EVERY_S = 0.25


class Watchdog:
    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        # token: (when it is due, the socket, the deadline it was given)
        self._guards: dict[object, tuple[float, int, float]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def guard(self, conn: Connection) -> contextlib.AbstractContextManager[None]:
        """Watch ``conn`` until the block ends (PostgreSQL only: SQLite has no network)."""
        return self.guard_socket(socket_of(conn.connection.dbapi_connection))

    @contextlib.contextmanager
    def guard_socket(self, fd: int | None, deadline_s: float | None = None) -> Iterator[None]:
        """Watch the socket ``fd`` (from :func:`socket_of`) until the block ends, cutting it
        after ``deadline_s`` (the watchdog's own deadline unless given)."""
        if fd is None:
            yield
            return
        token = object()
        deadline = self.deadline_s if deadline_s is None else deadline_s
        with self._lock:
            self._guards[token] = (monotonic_s() + deadline, fd, deadline)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sk-watchdog", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._guards.pop(token, None)

    def _run(self) -> None:
        while True:
            time.sleep(CHECK_EVERY_S)
            now = monotonic_s()
            with self._lock:
                overdue = [
                    (token, fd, deadline)
                    for token, (due, fd, deadline) in self._guards.items()
                    if now > due
                ]
                for token, _, _ in overdue:
                    self._guards.pop(token, None)
            for _, fd, deadline in overdue:
                log.warning("database connection gave no answer within %.0f s: cut", deadline)
                _shut_down(fd)


def socket_of(dbapi: Any) -> int | None:
    """The socket of a psycopg connection; None for SQLite (no network)."""
    pgconn = getattr(dbapi, "pgconn", None)
    fd = getattr(pgconn, "socket", None)
    return fd if isinstance(fd, int) and fd >= 0 else None


def _shut_down(fd: int) -> None:
    """Shut the socket down under the driver's feet (a duplicate descriptor, so the driver's
    own one is closed by the driver, once)."""
    with contextlib.suppress(OSError):
        duplicate = socket.socket(fileno=socket.dup(fd))
        try:
            duplicate.shutdown(socket.SHUT_RDWR)
        finally:
            duplicate.close()
