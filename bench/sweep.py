"""3. The sweep closing 10,000 overdue sessions among 1,000,000 active, against 100,000 active.

Rows are bulk-inserted with every n-th one overdue at a fixed ``now`` (a ManualClock), so
exactly 10,000 are overdue in both tables. The timed code is the real path: ``Sweeper.run()``
with its chunks through the group-commit writer and the record of the run. Between
repetitions the closed rows are made active again (untimed), so each repetition closes the
same 10,000 rows; the two sizes are swept in turn.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from bench import scaling
from bench.config import RunConfig
from bench.databases import bare_engine, settings_for
from bench.populate import Population, now_ms, populate, prepare
from bench.report import Case, Outcome
from sessionkeeper.assembly import build_services
from sessionkeeper.clock import ManualClock
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage.tables import sessions as t

NAME = "sweep"
OVERDUE = 10_000
GOAL_SECONDS = 1.0
GOAL_SCALING = 1.5


def _reopen(url: str) -> None:
    engine = bare_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                t.update()
                .where(t.c.status == "timed_out")
                .values(status="active", end_reason=None, estimated=False, ended_at=None)
            )
    finally:
        engine.dispose()


class Table:
    """One populated database and a sweeper on it, at the fixed ``now`` of its population."""

    def __init__(self, url: str, active: int) -> None:
        self.url = url
        self.active = active
        tenant = prepare(url)
        self.now = now_ms()
        spec = Population(tenant.id, active, self.now, overdue_every=active // OVERDUE)
        self.populate_s = populate(url, spec)
        self.runtime = Runtime.open(settings_for(url), clock=ManualClock(self.now))
        self.sweeper = build_services(self.runtime).sweeper
        self.seconds: list[float] = []
        self.inner: list[float] = []
        self.closed: list[int] = []

    def once(self) -> None:
        if self.seconds:
            _reopen(self.url)
        began = time.perf_counter()
        result = asyncio.run(self.sweeper.run())
        self.seconds.append(time.perf_counter() - began)
        self.inner.append(result.duration_s)
        self.closed.append(result.closed)

    def close(self) -> None:
        self.runtime.close()

    def summary(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "overdue": OVERDUE,
            "populate_s": self.populate_s,
            "seconds": self.seconds,
            "median_s": statistics.median(self.seconds),
            "sweep_duration_s": self.inner,
            "closed": self.closed,
        }


def case(backend: str, big: dict[str, Any], base: dict[str, Any]) -> Case:
    measured, baseline = float(big["median_s"]), float(base["median_s"])
    scaling_ok = measured / baseline <= GOAL_SCALING
    goal = f"ratio ≤ {GOAL_SCALING}"
    met = scaling_ok
    if backend == "sqlite":
        goal += f" and ≤ {GOAL_SECONDS:.0f} s"
        met = scaling_ok and measured <= GOAL_SECONDS
    return Case(
        name=(
            f"sweep {OVERDUE:,} overdue among {big['active']:,} vs {base['active']:,} active "
            f"({scaling.label(backend)})"
        ),
        measured=measured,
        baseline=baseline,
        unit="s",
        goal=goal,
        met=met,
        raw={"large": big, "small": base},
    )


def run(config: RunConfig) -> Outcome:
    return scaling.run(config, NAME, Table, case, overdue=OVERDUE)
