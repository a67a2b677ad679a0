"""The cleanup: close every room inactive for its room timeout, and purge closed rooms past
their retention (``SESSIONKEEPER_ROOM_RETENTION_DAYS``, off by default).

The periodic job (and the operator) cleans the whole server. A tenant's admin key cleans only
that tenant's rooms, as with the sweep: one tenant cannot make the server close another's
rooms, and sees nothing of when another cleaned (its runs are recorded as its own job,
``cleanup@<tenant id>``).

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
from sessionkeeper.domain.job_runs import shown_from
from sessionkeeper.domain.principal import Principal
from sessionkeeper.jobs.cadence import next_start
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

    def closed_for(self, principal: Principal) -> int:
        """What the principal may see: its tenant's count, or the total server-wide."""
        return principal.part_of(self.closed)

    def purged_for(self, principal: Principal) -> int:
        return principal.part_of(self.purged)


@dataclass(frozen=True, slots=True)
class CleanupStatus:
    """The last run that covered the caller's rooms (the server's, shared by every tenant
    and process, or one its tenant asked for) with the caller's counts in it."""

    last_run: jobs.JobRun | None
    closed: int
    purged: int
    interval_s: float
    retention_days: float | None
    # When the server's next run is due: the first start after now on the cadence of its
    # last run the caller is shown (the runner starts them on a fixed one).
    next_run_at: int | None


def close_chunk(
    tx: Transaction, now: int, tenant_id: int | None = None
) -> tuple[int, dict[int, int]]:
    """One chunk of inactive rooms (of every tenant, or of ``tenant_id``): (how many were
    looked at, rooms closed per tenant)."""
    found = cleanup_store.inactive_rooms(tx.conn, now, tenant_id=tenant_id)
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
        """Clean the whole server until no inactive room is left, chunk by chunk, then
        purge; record the run."""
        return await self._clean(None)

    async def run_for(self, principal: Principal) -> CleanupResult:
        """Close the principal's tenant's inactive rooms only, recorded as that tenant's run
        (the whole server, purge included, for the operator acting server-wide). The purge
        is the server's retention: the periodic run and the operator's do it."""
        if principal.server_wide:
            return await self.run()
        return await self._clean(principal.tenant_id)

    async def _clean(self, tenant_id: int | None) -> CleanupResult:
        started = self.rt.clock.now_ms()
        began = monotonic_s()
        closed: Counter[int] = Counter()
        purged: Counter[int] = Counter()
        error: str | None = None
        try:
            while True:
                seen, chunk = await self.rt.db.writer.run(
                    partial(close_chunk, now=self.rt.clock.now_ms(), tenant_id=tenant_id)
                )
                closed.update(chunk)
                if seen < cleanup_store.CHUNK:
                    break
            retention_days = self.rt.settings.room_retention_days if tenant_id is None else None
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
            await self._record(tenant_id, started, closed, purged, error)
        return CleanupResult(started, monotonic_s() - began, dict(closed), dict(purged))

    async def _record(
        self,
        tenant_id: int | None,
        started: int,
        closed: Counter[int],
        purged: Counter[int],
        error: str | None,
    ) -> None:
        finished = self.rt.clock.now_ms()
        name = JOB_NAME if tenant_id is None else jobs.tenant_job_name(JOB_NAME, tenant_id)
        interval_ms = round(self.rt.settings.cleanup_interval_s * 1000)

        def record(tx: Transaction) -> None:
            kept = jobs.record(
                tx.conn,
                name,
                started_at=started,
                finished_at=finished,
                result=closed.total(),
                error=error,
                result_by_tenant=dict(closed),
                shown_from=shown_from(started, finished, interval_ms),
            )
            if tenant_id is None:  # the server's run: every tenant's counts in it
                # The counts of the run tenants see until this one is shown are kept.
                shown_before = None if kept is None else kept.started_at
                cleanup_store.record_counts(tx.conn, started, closed, purged, kept=shown_before)

        try:
            await self.rt.db.writer.run(record)
        except Exception:
            log.exception("could not record the cleanup run")

    async def status(self, principal: Principal) -> CleanupStatus:
        settings = self.rt.settings
        now = self.rt.clock.now_ms()

        def read(conn: Connection) -> CleanupStatus:
            server = jobs.get(conn, JOB_NAME)
            # Compared as seen: the server's run as of its start (for a tenant, from when it
            # is shown), so that which one is shown tells nothing of when the server's ended.
            shown = server and server.seen_by(principal, now)
            own = None
            if not principal.server_wide:
                own = jobs.get(conn, jobs.tenant_job_name(JOB_NAME, principal.tenant_id))
            if own is not None and (shown is None or own.finished_at > shown.finished_at):
                last, counts = own, (own.result_for(principal), 0)
            elif shown is not None:
                last, counts = shown, cleanup_store.counts_of(conn, principal, shown.started_at)
            else:
                last, counts = None, (0, 0)
            due = None
            if shown is not None:
                interval_ms = settings.cleanup_interval_s * 1000
                due = round(next_start(shown.started_at, now, interval_ms))
            return CleanupStatus(
                last, *counts, settings.cleanup_interval_s, settings.room_retention_days, due
            )

        return await self.rt.db.reader.run(read)
