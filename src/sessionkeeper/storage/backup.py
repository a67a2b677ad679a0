"""Online backup of a SQLite database: a consistent copy while the server keeps writing.

SQLite's backup API copies the database page by page; when a write lands in between, the
copy restarts from the changed pages, so the result is always one committed state. The
copy is written to a new file beside its target and renamed into place only when complete,
so a backup interrupted half-way never looks like a good one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import Engine

# Pages copied per step: small steps let the server's writes in between.
PAGES_PER_STEP = 1024


class BackupRefused(Exception):
    pass


def backup_sqlite(engine: Engine, target: Path) -> int:
    """Copy the database of ``engine`` to ``target`` (which must not exist); the number of
    pages copied."""
    if engine.dialect.name != "sqlite":
        raise BackupRefused(
            "sessionkeeper backup copies SQLite databases; for PostgreSQL use pg_dump "
            "(see docs/production.md)"
        )
    if target.exists():
        raise BackupRefused(f"{target} exists already; choose a new file")
    if not target.parent.is_dir():
        raise BackupRefused(f"{target.parent} is not a directory")
    partial = target.with_name(f".{target.name}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        destination = sqlite3.connect(partial)
        try:
            source.backup(destination, pages=PAGES_PER_STEP)
            pages = int(destination.execute("PRAGMA page_count").fetchone()[0])
            # The copy stands alone: one file, no write-ahead log beside it.
            destination.execute("PRAGMA journal_mode=DELETE")
        finally:
            destination.close()
        os.replace(partial, target)
    finally:
        raw.close()
    return pages
