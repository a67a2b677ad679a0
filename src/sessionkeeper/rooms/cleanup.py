"""The cleanup: close every room inactive for its room timeout, and purge closed rooms past
their retention (``SESSIONKEEPER_ROOM_RETENTION_DAYS``, off by default).

Each chunk is one op of the writer's group commit. Several processes may clean at once: on
PostgreSQL each takes the rooms no other holds, and every close is a conditional UPDATE, so
a room is closed once whoever gets there first.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from functools import partial

from sqlalchemy.engine import Connection

from sessionkeeper.clock import monotonic_s
from sessionkeeper.domain.principal import Principal
from sessionkeeper.rooms import cleanup_store
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import jobs
from sessionkeeper.storage.transaction import Transaction

log = logging.getLogger(__name__)
JOB_NAME = "cleanup"
MS_PER_DAY = 86_400_000


@dataclass(frozen=True, slots=True)
class CleanupResult:
    at: int
    duration_s: float
    # Per tenant id: rooms closed, rooms purged.
    closed: dict[int, int]
    purged: dict[int, int]

    def closed_for(self, tenant_id: int) -> int:
        return self.closed.get(tenant_id, 0)

    def purged_for(self, tenant_id: int) -> int:
        return self.purged.get(tenant_id, 0)


@dataclass(frozen=True, slots=True)
class CleanupStatus:
    """The last run (shared by every tenant and process) with the caller's counts in it."""

    last_run: jobs.JobRun | None
    closed: int
    purged: int
    interval_s: float
    retention_days: float | None

    @property
    def next_run_at(self) -> int | None:
        if self.last_run is None:
            return None
        return self.last_run.finished_at + round(self.interval_s * 1000)


def close_chunk(tx: Transaction, now: int) -> tuple[int, dict[int, int]]:
    """One chunk of inactive rooms: (how many were looked at, rooms closed per tenant)."""
    found = cleanup_store.inactive_rooms(tx.conn, now)
    closed = {}
    for tenant_id, room_ids in found.items():
        principal = cleanup_store.tenant_operator(tenant_id)
        if n := len(cleanup_store.close_inactive(tx, principal, room_ids, now)):
            closed[tenant_id] = n
    return sum(len(ids) for ids in found.values()), closed


class Cleaner:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def run(self) -> CleanupResult:
        """Clean until no inactive room is left, chunk by chunk, then purge; record the run."""
        started = self.rt.clock.now_ms()
        began = monotonic_s()
        closed: Counter[int] = Counter()
        purged: Counter[int] = Counter()
        error: str | None = None
        try:
            while True:
                seen, chunk = await self.rt.db.writer.run(
                    partial(close_chunk, now=self.rt.clock.now_ms())
                )
                closed.update(chunk)
                if seen < cleanup_store.CHUNK:
                    break
            retention_days = self.rt.settings.room_retention_days
            while retention_days is not None:
                before = self.rt.clock.now_ms() - round(retention_days * MS_PER_DAY)
                gone = await self.rt.db.writer.run(
                    partial(cleanup_store.purge_chunk, before=before)
                )
                purged.update(gone)
                if sum(gone.values()) < cleanup_store.CHUNK:
                    break
        except asyncio.CancelledError:
            error = "cancelled before it finished"  # e.g. shutdown: not a complete run
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.exception("cleanup failed")
            raise
        finally:
            await self._record(started, closed, purged, error)
        return CleanupResult(started, monotonic_s() - began, dict(closed), dict(purged))

    async def _record(
        self, started: int, closed: Counter[int], purged: Counter[int], error: str | None
    ) -> None:
        finished = self.rt.clock.now_ms()

        def record(tx: Transaction) -> None:
            jobs.record(
                tx.conn,
                JOB_NAME,
                started_at=started,
                finished_at=finished,
                result=closed.total(),
                error=error,
            )
            cleanup_store.record_counts(tx.conn, started, closed, purged)

        try:
            await self.rt.db.writer.run(record)
        except Exception:
            log.exception("could not record the cleanup run")

    async def status(self, principal: Principal) -> CleanupStatus:
        def read(conn: Connection) -> tuple[jobs.JobRun | None, tuple[int, int]]:
            run = jobs.get(conn, JOB_NAME)
            if run is None:
                return None, (0, 0)
            return run, cleanup_store.counts_of(conn, principal, run.started_at)

        run, (closed, purged) = await self.rt.db.reader.run(read)
        settings = self.rt.settings
        return CleanupStatus(
            run, closed, purged, settings.cleanup_interval_s, settings.room_retention_days
        )
