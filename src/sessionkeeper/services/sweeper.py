"""The sweep: close every active session whose ``expires_at`` has passed.

The periodic job (and the operator) sweeps the whole server. A tenant's admin key sweeps
only that tenant: one tenant cannot make the server work on the others' sessions, and sees
no figure of theirs. Each run is recorded with its count per tenant, so a tenant's health
shows its own part of the last sweep that covered it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy.engine import Connection

from sessionkeeper.clock import monotonic_s
from sessionkeeper.domain.job_runs import shown_from
from sessionkeeper.domain.principal import Principal
from sessionkeeper.logs import fact, sweep_log
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import jobs
from sessionkeeper.storage import session_queries as queries
from sessionkeeper.storage import sessions as store
from sessionkeeper.storage import sweep as sweep_store
from sessionkeeper.storage.transaction import Transaction

log = logging.getLogger(__name__)
JOB_NAME = "sweep"


def tenant_job_name(tenant_id: int) -> str:
    """The record of the sweeps one tenant asked for."""
    return jobs.tenant_job_name(JOB_NAME, tenant_id)


@dataclass(frozen=True, slots=True)
class SweepResult:
    at: int
    duration_s: float
    # How many sessions this run closed, per tenant id.
    closed_by_tenant: dict[int, int] = field(default_factory=dict)

    @property
    def closed(self) -> int:
        return sum(self.closed_by_tenant.values())

    def closed_for(self, principal: Principal) -> int:
        """What the principal may see: its tenant's count, or the total server-wide."""
        return principal.part_of(self.closed_by_tenant)


# One chunk of a sweep: closes up to SWEEP_CHUNK sessions, returns how many per tenant.
Chunk = Callable[[int], Awaitable[Counter[int]]]


class Sweeper:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def run(self) -> SweepResult:
        """Sweep every tenant until nothing is overdue, chunk by chunk, and record the run.

        Each chunk is one conditional UPDATE in the writer's group commit; several processes
        may sweep at once, since a row another process closed no longer matches.
        """

        async def chunk(now: int) -> Counter[int]:
            closed = await self.rt.db.writer.run(partial(sweep_store.sweep_chunk, now=now))
            return Counter(tenant for tenant, _ in closed)

        return await self._sweep(JOB_NAME, chunk)

    async def run_for(self, principal: Principal) -> SweepResult:
        """Sweep the principal's sessions only (the whole server for the operator)."""
        if principal.server_wide:
            return await self.run()

        async def chunk(now: int) -> Counter[int]:
            def close(tx: Transaction) -> int:
                ids = queries.overdue_ids(tx.conn, principal, now, sweep_store.SWEEP_CHUNK)
                return store.close_overdue(tx, principal, ids, now)

            return Counter({principal.tenant_id: await self.rt.db.writer.run(close)})

        return await self._sweep(tenant_job_name(principal.tenant_id), chunk)

    async def _sweep(self, name: str, chunk: Chunk) -> SweepResult:
        started = self.rt.clock.now_ms()
        began = monotonic_s()
        closed: Counter[int] = Counter()
        error: str | None = None
        try:
            while True:
                closed_now = await chunk(self.rt.clock.now_ms())
                closed.update(closed_now)
                if closed_now.total() < sweep_store.SWEEP_CHUNK:
                    break
        except asyncio.CancelledError:
            error = "cancelled before it finished"  # e.g. shutdown: not a complete sweep
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.exception("sweep failed")
            raise
        finally:
            duration = monotonic_s() - began
            await self._record(name, started, closed, error)
            self.rt.metrics.sweep_duration.observe(duration)
        result = SweepResult(at=started, duration_s=duration, closed_by_tenant=dict(closed))
        if result.closed:
            fact(
                sweep_log,
                f"sweep closed {result.closed} overdue sessions",
                job=name,
                closed=result.closed,
                tenants=len(result.closed_by_tenant),
                duration_ms=round(duration * 1000, 1),
            )
        return result

    async def _record(
        self, name: str, started: int, closed: Counter[int], error: str | None
    ) -> None:
        finished = self.rt.clock.now_ms()
        interval_ms = round(self.rt.settings.sweep_interval_s * 1000)
        try:
            await self.rt.db.writer.run(
                lambda tx: jobs.record(
                    tx.conn,
                    name,
                    started_at=started,
                    finished_at=finished,
                    result=closed.total(),
                    error=error,
                    result_by_tenant=dict(closed),
                    shown_from=shown_from(started, finished, interval_ms),
                )
            )
        except Exception:
            log.exception("could not record the sweep run")

    async def last_run(self, principal: Principal | None = None) -> jobs.JobRun | None:
        """The last sweep that covered the principal's sessions: the server's, or one the
        tenant asked for, whichever finished later as the tenant sees them (the server's
        without a principal)."""
        now = self.rt.clock.now_ms()

        def read(conn: Connection) -> jobs.JobRun | None:
            server = jobs.get(conn, JOB_NAME)
            if principal is None or principal.server_wide:
                return server
            # Compared as seen: the server's run as of its start, so that which one is shown
            # tells nothing of when the server's ended.
            runs = [
                server and server.seen_by(principal, now),
                jobs.get(conn, tenant_job_name(principal.tenant_id)),
            ]
            return max(
                (run for run in runs if run is not None),
                key=lambda run: run.finished_at,
                default=None,
            )

        return await self.rt.db.reader.run(read)
