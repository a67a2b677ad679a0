"""Locks that let one server process at a time run a job, whatever the number of processes.

PostgreSQL: a session-level advisory lock per job name, held on a connection of its own for
the run (it goes away with the connection, so a process that dies holds nothing). SQLite: an
exclusive ``flock`` on a file beside the database, which the kernel releases when the process
ends. A process that does not get the lock skips that round; the holder runs it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for the job name (advisory locks take a bigint)."""
    return int.from_bytes(
        hashlib.sha256(f"sessionkeeper:{name}".encode()).digest()[:8], "big", signed=True
    )


class JobLocks:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        """Try to take the lock of job ``name``; yields whether this process has it."""
        if self.engine.dialect.name == "postgresql":
            with self._advisory(name) as acquired:
                yield acquired
        else:
            with self._file(name) as acquired:
                yield acquired

    @contextlib.contextmanager
    def _advisory(self, name: str) -> Iterator[bool]:
        key = _lock_key(name)
        with self.engine.connect() as conn:
            acquired = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
            conn.commit()
            try:
                yield acquired
            finally:
                if acquired:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                    conn.commit()

    @contextlib.contextmanager
    def _file(self, name: str) -> Iterator[bool]:
        database = self.engine.url.database
        if not database or database == ":memory:":
            yield True  # one process, one database: nothing to share
            return
        path = Path(database).with_name(f"{Path(database).name}.{name}.lock")
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
