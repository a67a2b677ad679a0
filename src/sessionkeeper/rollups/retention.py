"""Retention of raw events (``SESSIONKEEPER_EVENT_RETENTION_DAYS``): drop the old ones in
bounded chunks, after the rollups of their days are current, so the aggregates stay."""

from __future__ import annotations

import logging
from functools import partial

from sessionkeeper.events import store as event_store
from sessionkeeper.rollups.service import RollupService
from sessionkeeper.services.runtime import Runtime

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
JOB_NAME = "event_retention"
INTERVAL_S = 3600.0


def cutoff(now: int, retention_days: int, max_past_ms: int) -> int:
    """Events made before this are dropped: ``retention_days`` back, and never on a day that
    a client may still send events for (the accepted past window, plus a day)."""
    return min(now - retention_days * DAY_MS, now - max_past_ms - DAY_MS)


class Retention:
    def __init__(self, runtime: Runtime, rollups: RollupService) -> None:
        self.rt = runtime
        self.rollups = rollups

    async def run(self) -> int:
        """Drop every event older than the retention; returns how many went."""
        days = self.rt.settings.event_retention_days
        if days is None:
            return 0
        before = cutoff(self.rt.clock.now_ms(), days, self.rt.settings.max_past_s * 1000)
        # Every marked day's events part is recomputed while its raw events are all there;
        # dropping then records EventsDropped, which freezes the events part of those days.
        await self.rollups.refresh()
        tenants = await self.rt.db.reader.run(
            lambda conn: event_store.tenants_with_events_before(conn, before)
        )
        dropped = 0
        for tenant_id in tenants:
            while True:
                n = await self.rt.db.writer.run(
                    partial(event_store.drop_before, tenant_id=tenant_id, before=before)
                )
                dropped += n
                if n < event_store.DROP_CHUNK:
                    break
        if dropped:
            log.info("dropped %d events made before the retention of %d days", dropped, days)
        return dropped
