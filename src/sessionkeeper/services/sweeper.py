"""The sweep: close every active session whose ``expires_at`` has passed."""

from __future__ import annotations

import asyncio
import logging
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
    at: int
    duration_s: float
    # (tenant id, session id) of every session this run closed.
    closed_ids: list[tuple[int, str]]

    @property
    def closed(self) -> int:
        return len(self.closed_ids)

    def closed_for(self, tenant_id: int) -> int:
        return sum(1 for tenant, _ in self.closed_ids if tenant == tenant_id)


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
        closed: list[tuple[int, str]] = []
        error: str | None = None
        try:
            while True:
                now = self.rt.clock.now_ms()
                chunk = await self.rt.db.writer.run(partial(store.sweep_chunk, now=now))
                closed.extend(chunk)
                if len(chunk) < store.SWEEP_CHUNK:
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
            await self._record(started, len(closed), error)
            self.rt.metrics.sweep_duration.observe(duration)
        return SweepResult(at=started, duration_s=duration, closed_ids=closed)

    async def _record(self, started: int, closed: int, error: str | None) -> None:
        finished = self.rt.clock.now_ms()
        try:
            await self.rt.db.writer.run(
                lambda tx: jobs.record(
                    tx.conn,
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
