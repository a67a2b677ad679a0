"""The rooms' cleanup closing 1,000 inactive rooms among 1,000,000 live ones, against the same
among 100,000.

Rooms are bulk-inserted as a room's session and its row of ``rooms``: the live ones last
active 10 s before ``now``, the inactive ones two hours before, each with one participant's
attendance left open (overdue) that the cleanup closes with its room. The timed code is the
real path: ``Cleaner.run()`` with its chunks through the group-commit writer, the change
events and the record of the run. Between repetitions the closed rooms and attendances are
made open again (untimed); the two sizes are cleaned in turn.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import sqlalchemy as sa

from bench import scaling
from bench.config import RunConfig
from bench.databases import bare_engine, settings_for
from bench.populate import Population, now_ms, populate, prepare
from bench.report import Case, Outcome
from sessionkeeper.assembly import build_services
from sessionkeeper.clock import ManualClock
from sessionkeeper.rooms.rules import ROOM_SESSION_TIMEOUT_MS
from sessionkeeper.rooms.service import Rooms
from sessionkeeper.rooms.tables import rooms as r
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage.tables import sessions as t

NAME = "rooms_cleanup"
INACTIVE = 1_000
GOAL_SCALING = 1.5
ROOM_TIMEOUT_MS = 3_600_000
PRESENCE_INTERVAL_MS = 30_000
# Prefixes of one length, so an attendance's room id is its own id with the prefix swapped.
LIVE, DEAD, SEAT = "live-", "dead-", "seat-"


def _add_rooms(conn: sa.Connection, prefix: str) -> None:
    """A row of ``rooms`` for each room session of ``prefix``, last active when last seen."""
    rooms = sa.select(
        t.c.tenant_id,
        t.c.id,
        sa.literal(PRESENCE_INTERVAL_MS),
        sa.literal(ROOM_TIMEOUT_MS),
        t.c.last_seen_at,
        t.c.last_seen_at + ROOM_TIMEOUT_MS,
    ).where(t.c.id.like(prefix + "%"))
    columns = ["tenant_id", "id", "presence_interval_ms", "room_timeout_ms"]
    conn.execute(r.insert().from_select([*columns, "last_activity_at", "inactive_at"], rooms))


def _seat_attendances(conn: sa.Connection) -> None:
    conn.execute(
        t.update()
        .where(t.c.id.like(SEAT + "%"))
        .values(room_id=sa.literal(DEAD) + sa.func.substr(t.c.id, len(SEAT) + 1))
    )


def _reopen(url: str) -> None:
    engine = bare_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                t.update()
                .where(sa.or_(t.c.id.like(DEAD + "%"), t.c.id.like(SEAT + "%")))
                .values(status="active", end_reason=None, estimated=False, ended_at=None)
            )
            conn.execute(
                r.update()
                .where(r.c.id.like(DEAD + "%"))
                .values(inactive_at=r.c.last_activity_at + r.c.room_timeout_ms, closed_at=None)
            )
    finally:
        engine.dispose()


def _analyze(url: str) -> None:
    engine = bare_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE sessions"))
                conn.execute(sa.text("VACUUM ANALYZE rooms"))
    finally:
        engine.dispose()


class Table:
    """One database of ``live`` rooms and ``INACTIVE`` inactive ones, and a cleaner on it at
    the fixed ``now`` of its population."""

    def __init__(self, url: str, live: int) -> None:
        self.url = url
        self.live = live
        tenant = prepare(url)
        self.now = now_ms()
        began = time.perf_counter()
        room = {"tenant_id": tenant.id, "now": self.now, "kind": "lobby", "grace_ms": 15_000}
        populate(
            url, Population(count=live, prefix=LIVE, timeout_ms=ROOM_SESSION_TIMEOUT_MS, **room)
        )
        populate(
            url,
            Population(
                count=INACTIVE,
                prefix=DEAD,
                timeout_ms=ROOM_SESSION_TIMEOUT_MS,
                recent_s=7200,
                **room,
            ),
        )
        populate(
            url,
            Population(count=INACTIVE, prefix=SEAT, timeout_ms=75_000, recent_s=7200, **room),
        )
        engine = bare_engine(url)
        try:
            with engine.begin() as conn:
                _add_rooms(conn, LIVE)
                _add_rooms(conn, DEAD)
                _seat_attendances(conn)
        finally:
            engine.dispose()
        _analyze(url)
        self.populate_s = time.perf_counter() - began
        self.runtime = Runtime.open(settings_for(url), clock=ManualClock(self.now))
        self.cleaner = build_services(self.runtime).of(Rooms).cleaner
        self.seconds: list[float] = []
        self.closed: list[int] = []

    def once(self) -> None:
        if self.seconds:
            _reopen(self.url)
        began = time.perf_counter()
        result = asyncio.run(self.cleaner.run())
        self.seconds.append(time.perf_counter() - began)
        self.closed.append(sum(result.closed.values()))

    def close(self) -> None:
        self.runtime.close()

    def summary(self) -> dict[str, Any]:
        return {
            "live": self.live,
            "inactive": INACTIVE,
            "populate_s": self.populate_s,
            "seconds": self.seconds,
            "median_s": statistics.median(self.seconds),
            "closed": self.closed,
        }


def case(backend: str, big: dict[str, Any], base: dict[str, Any]) -> Case:
    for summary in (big, base):
        if set(summary["closed"]) != {INACTIVE}:
            raise AssertionError(f"the cleanup closed {summary['closed']}, not {INACTIVE} each")
    measured, baseline = float(big["median_s"]), float(base["median_s"])
    return Case(
        name=(
            f"cleanup closing {INACTIVE:,} inactive rooms among {big['live']:,} vs "
            f"{base['live']:,} live ({scaling.label(backend)})"
        ),
        measured=measured,
        baseline=baseline,
        unit="s",
        goal=f"ratio ≤ {GOAL_SCALING}",
        met=measured / baseline <= GOAL_SCALING,
        raw={"large": big, "small": base},
    )


def run(config: RunConfig) -> Outcome:
    return scaling.run(config, NAME, Table, case, inactive=INACTIVE)
