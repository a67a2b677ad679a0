"""On SQLite, heartbeats that leave ``sweep_at`` alone write no page of its index.

SQLite rewrites the index entries of every column an UPDATE's SET names, whatever the new
value: so the pages a batch of beats writes to the WAL tell whether the sweep's index was
touched. The floor is a bare UPDATE of ``last_seen_at`` and ``expires_at`` of the same rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import NewSession
from sessionkeeper.storage import heartbeats, session_inserts
from sessionkeeper.storage.database import Database
from sessionkeeper.storage.transaction import Transaction
from tests.integration.test_storage import TIMEOUT, new_session, tenant
from tests.support import T0, settings_for

INTERVAL = 12_000
# Enough rows to fill tens of pages (a bare update of them writes about 66), few enough that
# the WAL is not checkpointed (at `sqlite_checkpoint_pages`) in the middle of a measurement.
COUNT = 3_000
IDS = [f"s{n:05d}" for n in range(COUNT)]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(settings_for(f"sqlite:///{tmp_path / 'beats.db'}"))
    db.migrate()
    yield db
    db.close()


def _session(sid: str) -> NewSession:
    return replace(new_session(sid), interval_ms=INTERVAL)


def _pages_written(database: Database, path: Path, write: Callable[[Transaction], object]) -> int:
    """WAL frames (pages) that ``write``, run and committed by the writer, adds."""
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        database.writer.run_sync(write)
        return int(raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0][1])
    finally:
        raw.close()


def _sweep_ats(database: Database) -> list[int]:
    with database.read_engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT sweep_at FROM sessions ORDER BY id")).scalars())


def _bare(at: int) -> Callable[[Transaction], object]:
    statement = sa.text(
        "UPDATE sessions SET last_seen_at = :at, expires_at = :at + timeout_ms WHERE id = :id"
    )
    return lambda tx: tx.conn.execute(statement, [{"at": at, "id": sid} for sid in IDS])


def _batch(principal: Principal, at: int) -> Callable[[Transaction], object]:
    beats = [(sid, at) for sid in IDS]
    return lambda tx: heartbeats.heartbeat_batch(tx, principal, beats, at)


def test_beats_that_leave_sweep_at_alone_write_the_pages_of_a_bare_update(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "beats.db"
    principal = tenant(database)
    database.writer.run_sync(
        lambda tx: session_inserts.insert_many(tx, principal, list(map(_session, IDS)))
    )
    floor = _pages_written(database, path, _bare(T0 + 6_000))
    before = _sweep_ats(database)

    # 12 s after the start: every sweep_at (the deadline, T0 + 60 s) is still more than two
    # intervals ahead, so no beat moves it.
    quiet = _pages_written(database, path, _batch(principal, T0 + 12_000))
    assert _sweep_ats(database) == before
    assert quiet <= floor * 1.1, (quiet, floor)

    # 48 s after the start, sweep_at falls due within two intervals: every beat moves it,
    # and the index's pages are written too.
    moving = _pages_written(database, path, _batch(principal, T0 + 48_000))
    assert _sweep_ats(database) == [T0 + 48_000 + TIMEOUT] * COUNT
    assert moving > quiet * 1.3, (moving, quiet)
