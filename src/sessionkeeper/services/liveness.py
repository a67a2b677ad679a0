"""The service's own availability, so that its outages never count as client silence.

Every process records that it is alive every ``alive_interval_s`` (a periodic job) and on a
clean shutdown. The writer's first transaction after the process started, or after the
database could not be reached, runs :meth:`Liveness.recover`: sessions whose deadline fell
inside the time no process could write get a full timeout from the moment the service came
back (``storage/liveness.py``).
"""

from __future__ import annotations

import logging

from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import liveness as store
from sessionkeeper.storage.transaction import Transaction

log = logging.getLogger("sessionkeeper.liveness")
# A silence of every process longer than this many alive intervals is an outage.
OUTAGE_INTERVALS = 3


class Liveness:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    @property
    def threshold_ms(self) -> int:
        return round(OUTAGE_INTERVALS * self.rt.settings.alive_interval_s * 1000)

    def recover(self, tx: Transaction) -> None:
        gap, moved = store.recover(tx, self.rt.clock.now_ms(), threshold_ms=self.threshold_ms)
        if gap:
            log.warning(
                "the service was unavailable for %.1f s: %d sessions get a full timeout from now",
                gap / 1000,
                moved,
            )

    async def note(self) -> None:
        """Record that this process is alive (and can write) now."""
        now = self.rt.clock.now_ms()
        await self.rt.db.writer.run(lambda tx: store.note_alive(tx.conn, now))
