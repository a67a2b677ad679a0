"""The sweep: close every active session whose ``expires_at`` has passed."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from functools import partial

from sessionkeeper.clock import monotonic_s
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import jobs
from sessionkeeper.storage import sessions as store

log = logging.getLogger(__name__)
JOB_NAME = "sweep"


@dataclass(frozen=True, slots=True)
class SweepResult:
    closed: int
    at: int
    duration_s: float
    closed_by_tenant: dict[int, int]

    def closed_for(self, tenant_id: int) -> int:
        return self.closed_by_tenant.get(tenant_id, 0)


class Sweeper:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def run(self) -> SweepResult:
        """Sweep until nothing is overdue, chunk by chunk, and record the run.

        Each chunk is one conditional UPDATE in the writer's group commit; several processes
        may sweep at once, since a row another process closed no longer matches.
        """
        started = self.rt.clock.now_ms()
        began = monotonic_s()
        closed: Counter[str] = Counter()
        by_tenant: Counter[int] = Counter()
        error: str | None = None
        try:
            while True:
                now = self.rt.clock.now_ms()
                chunk = await self.rt.db.writer.run(partial(store.sweep_chunk, now=now))
                closed.update(kind for _, kind in chunk.closed_kinds)
                by_tenant.update(tenant for tenant, _ in chunk.closed_kinds)
                if chunk.count < store.SWEEP_CHUNK:
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
            await self._record(started, sum(closed.values()), error)
            self.rt.metrics.sweep_duration.observe(duration)
            for kind, n in closed.items():
                self.rt.metrics.sessions_timed_out.labels(kind=kind).inc(n)
        return SweepResult(
            closed=sum(closed.values()),
            at=started,
            duration_s=duration,
            closed_by_tenant=dict(by_tenant),
        )

    async def _record(self, started: int, closed: int, error: str | None) -> None:
        finished = self.rt.clock.now_ms()
        try:
            await self.rt.db.writer.run(
                lambda conn: jobs.record(
                    conn,
                    JOB_NAME,
                    started_at=started,
                    finished_at=finished,
                    result=closed,
                    error=error,
                )
            )
        except Exception:
            log.exception("could not record the sweep run")

    async def last_run(self) -> jobs.JobRun | None:
        return await self.rt.db.reader.run(lambda conn: jobs.get(conn, JOB_NAME))
