"""On SQLite the writer copies the WAL back into the database file once it holds
``sqlite_checkpoint_pages`` pages, and not before: the WAL file stays about that long.

After a checkpoint that copied every page, the next write starts the WAL file over from its
beginning (SQLite does not shrink it), so the file's size is the most pages it ever held.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from sessionkeeper.config import SQLITE_CHECKPOINT_PAGES, Settings
from sessionkeeper.storage.database import Database
from sessionkeeper.storage.transaction import Transaction
from tests.support import settings_for

PAGE = 4096
FRAME = PAGE + 24  # a WAL frame: the page and its header
COMMITS = 60
# Two rows of nearly a page each, and the pages of the table's b-tree above them.
ROW = b"x" * 4000


def _fill(tx: Transaction) -> None:
    tx.conn.execute(sa.text("INSERT INTO filler (data) VALUES (:d), (:d)"), {"d": ROW})


def _wal_bytes_after_writes(tmp_path: Path, checkpoint_pages: int) -> int:
    path = tmp_path / f"wal-{checkpoint_pages}.db"
    database = Database(settings_for(f"sqlite:///{path}", sqlite_checkpoint_pages=checkpoint_pages))
    try:
        database.migrate()
        with database.write_engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == checkpoint_pages
        database.writer.run_sync(
            lambda tx: tx.conn.execute(sa.text("CREATE TABLE filler (data BLOB)"))
        )
        # The migrations' pages out of the way: the WAL file starts empty.
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        raw.close()
        for _ in range(COMMITS):
            database.writer.run_sync(_fill)
        return Path(f"{path}-wal").stat().st_size
    finally:
        database.close()


def test_the_wal_is_copied_back_at_the_configured_length(tmp_path: Path) -> None:
    # 60 commits of about 3 pages: some 180 pages in all.
    short = _wal_bytes_after_writes(tmp_path, 40)
    long = _wal_bytes_after_writes(tmp_path, 100_000)
    assert short < 60 * FRAME, short
    assert long > 150 * FRAME, long


def test_the_default_is_the_documented_one_and_a_setting_of_0_is_refused() -> None:
    assert Settings(_env_file=None).sqlite_checkpoint_pages == SQLITE_CHECKPOINT_PAGES == 8192  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="sqlite_checkpoint_pages"):
        Settings(_env_file=None, sqlite_checkpoint_pages=0)  # type: ignore[call-arg]
