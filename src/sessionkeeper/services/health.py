"""Session health: is the record trustworthy right now, and if not, why."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.errors import StorageUnavailable
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.session_fields import SessionFields
from sessionkeeper.services.sweeper import JOB_NAME as SWEEP_JOB
from sessionkeeper.services.sweeper import Sweeper
from sessionkeeper.storage import jobs
from sessionkeeper.storage import session_queries as queries

# A sweep older than this many intervals means the sweeper is stuck or not running.
STALE_SWEEP_INTERVALS = 3
DETAILS_LIMIT = 100


class HealthStatus(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


Fields = dict[str, dict[str, Any]]


@dataclass(slots=True)
class Health:
    status: HealthStatus
    reasons: list[str]
    database: bool
    now: int
    counts: queries.SessionCounts | None = None
    last_sweep: jobs.JobRun | None = None
    # The last run of every periodic job (the sweep, and those of features).
    jobs: list[jobs.JobRun] = field(default_factory=list)
    # What the last sweep closed of the caller's sessions (of all, for the operator).
    last_sweep_closed: int = 0
    overdue: list[Session] = field(default_factory=list)
    recently_timed_out: list[Session] = field(default_factory=list)
    # The features' fields of the sessions above (``outcome``…), by session id.
    fields: Fields = field(default_factory=dict)


class HealthService:
    def __init__(
        self, runtime: Runtime, sweeper: Sweeper, fields: SessionFields | None = None
    ) -> None:
        self.rt = runtime
        self.sweeper = sweeper
        self.fields = fields or SessionFields()

    async def check(self, principal: Principal, *, details: bool = False) -> Health:
        """The health of the principal's tenant; ``down`` within ``health_timeout_s`` when
        the database does not answer (also when it drops packets instead of refusing)."""
        try:
            return await asyncio.wait_for(
                self._check(principal, details=details), self.rt.settings.health_timeout_s
            )
        except TimeoutError:
            return self.down(self.no_answer())
        except StorageUnavailable as exc:
            return self.down(exc)

    def no_answer(self) -> StorageUnavailable:
        timeout = self.rt.settings.health_timeout_s
        return StorageUnavailable(f"database unavailable: no answer within {timeout:g} s")

    async def _check(self, principal: Principal, *, details: bool) -> Health:
        now = self.rt.clock.now_ms()
        counts = await self.rt.db.reader.run(
            lambda conn: queries.session_counts(conn, principal, now)
        )
        last_sweep = await self.sweeper.last_run(principal)
        tenants = self.rt.db.public_ids.tenants
        runs = [
            replace(run, name=jobs.shown_name(run.name, tenants))
            for run in jobs.seen_by(principal, await self.rt.db.reader.run(jobs.all_runs), now)
        ]
        health = Health(
            HealthStatus.OK,
            [],
            database=True,
            now=now,
            counts=counts,
            last_sweep=last_sweep,
            jobs=runs,
            last_sweep_closed=0 if last_sweep is None else last_sweep.result_for(principal),
        )
        health.reasons = self._reasons(counts, last_sweep, now)
        health.reasons += [
            f"last {run.name} failed: {run.error}"
            for run in runs
            if run.error is not None and run.name != SWEEP_JOB
        ]
        if health.reasons:
            health.status = HealthStatus.DEGRADED
        if details:

            def listed(conn: Connection) -> tuple[list[Session], list[Session], Fields]:
                overdue = queries.overdue_sessions(conn, principal, now, DETAILS_LIMIT)
                timed_out = queries.recently_timed_out(conn, principal, now, DETAILS_LIMIT)
                fields = self.fields.read(conn, principal, [*overdue, *timed_out])
                return overdue, timed_out, fields

            listing = await self.rt.db.reader.run(listed)
            health.overdue, health.recently_timed_out, health.fields = listing
        return health

    def down(self, cause: StorageUnavailable) -> Health:
        """Health when the database cannot be reached: reported, not raised."""
        return Health(HealthStatus.DOWN, [cause.detail], database=False, now=self.rt.clock.now_ms())

    def _reasons(
        self, counts: queries.SessionCounts, last_sweep: jobs.JobRun | None, now: int
    ) -> list[str]:
        reasons = []
        threshold = self.rt.settings.health_overdue_threshold
        overdue = counts.total("overdue")
        if overdue > threshold:
            reasons.append(f"{overdue} overdue sessions (threshold {threshold})")
        stale_ms = STALE_SWEEP_INTERVALS * self.rt.settings.sweep_interval_s * 1000
        if last_sweep is None:
            reasons.append("no sweep has run yet")
        elif now - last_sweep.finished_at > stale_ms:
            lag = (now - last_sweep.finished_at) / 1000
            reasons.append(f"last sweep {lag:.0f} s ago (over {STALE_SWEEP_INTERVALS} intervals)")
        if last_sweep is not None and last_sweep.error is not None:
            reasons.append(f"last sweep failed: {last_sweep.error}")
        return reasons

    async def refresh_active_gauge(self) -> None:
        """Set the active-sessions gauge from the database, for a metrics scrape."""
        now = self.rt.clock.now_ms()
        counts = await self.rt.db.reader.run(lambda conn: queries.active_by_kind(conn, now))
        by_label: Counter[str] = Counter()
        for kind, n in counts.items():
            by_label[self.rt.metrics.kind(kind)] += n
        gauge = self.rt.metrics.active_sessions
        gauge.clear()  # kinds with no active session left must drop to nothing, not linger
        for label, n in by_label.items():
            gauge.labels(kind=label).set(n)
