"""The pages the SQLite sweep writes, by table and index, among 100,000 and 1,000,000 active.

Not a timed benchmark: it explains the sweep benchmark's ratio. Each size is populated as
``bench/sweep.py`` populates it (10,000 overdue, evenly spread), automatic checkpoints are
turned off, the real ``Sweeper.run()`` closes the overdue sessions, and every frame of the
WAL its commits wrote is counted and mapped, by its page number, to the b-tree that owns the
page (SQLite's ``dbstat``). A sweep that rewrites each row it closes cannot write fewer pages
than the distinct table pages those rows lie on.

Run: ``python -m bench.sweep_pages`` (about a minute; SQLite only).
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import struct
from pathlib import Path

from bench.databases import database, settings_for
from bench.populate import Population, now_ms, populate, prepare
from sessionkeeper.assembly import build_services
from sessionkeeper.clock import ManualClock
from sessionkeeper.services.runtime import Runtime

OVERDUE = 10_000
SIZES = (100_000, 1_000_000)
WAL_HEADER = 32
FRAME_HEADER = 24


def wal_pages(database_file: Path) -> list[int]:
    """The page number of every frame in the database's WAL, in order."""
    data = (database_file.parent / (database_file.name + "-wal")).read_bytes()
    page_size = struct.unpack(">I", data[8:12])[0]
    pages = []
    offset = WAL_HEADER
    while offset + FRAME_HEADER + page_size <= len(data):
        pages.append(struct.unpack(">I", data[offset : offset + 4])[0])
        offset += FRAME_HEADER + page_size
    return pages


def owners(database_file: Path) -> dict[int, str]:
    """Each page's table or index, and empties the WAL so it holds the sweep's frames only."""
    conn = sqlite3.connect(database_file)
    try:
        found = dict(conn.execute("SELECT pageno, name FROM dbstat"))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return found


def measure(active: int) -> None:
    with database("sqlite") as url:
        tenant = prepare(url)
        now = now_ms()
        populate(url, Population(tenant.id, active, now, overdue_every=active // OVERDUE))
        database_file = Path(url.removeprefix("sqlite:///"))
        owner = owners(database_file)
        # No checkpoint during the sweep, so that every page it wrote stays in the WAL.
        settings = settings_for(url).model_copy(update={"sqlite_checkpoint_pages": 10**9})
        runtime = Runtime.open(settings, clock=ManualClock(now))
        try:
            closed = asyncio.run(build_services(runtime).sweeper.run()).closed
            # Read while the runtime is open: the last connection to close removes the WAL.
            frames = wal_pages(database_file)
        finally:
            runtime.close()
    distinct = set(frames)
    print(
        f"{active:,} active, {closed:,} closed: {len(frames):,} frames "
        f"on {len(distinct):,} distinct pages"
    )
    by_owner = collections.Counter(owner.get(page, "(new pages)") for page in distinct)
    for name, pages in by_owner.most_common(6):
        print(f"  {pages:7,} {name}")


def main() -> None:
    for active in SIZES:
        measure(active)


if __name__ == "__main__":
    main()
