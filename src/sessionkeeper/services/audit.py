"""The audit log: actions taken by hand on the record, and on a person's data.

Write an entry inside the op that does the action (``storage.audit.record`` on the op's
connection) where there is one, so the entry commits with it; :meth:`AuditLog.record` is for
actions that are not one write (an export, a run of the sweep).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sessionkeeper.domain.principal import Principal
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import audit as store


class AuditLog:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def record(
        self,
        principal: Principal,
        action: str,
        *,
        target: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        now = self.rt.clock.now_ms()
        await self.rt.db.writer.run(
            lambda tx: store.record(
                tx.conn, principal, action, at=now, target=target, details=details
            )
        )

    async def entries(
        self,
        principal: Principal,
        *,
        limit: int,
        before_id: int | None = None,
        action: str | None = None,
    ) -> list[store.AuditEntry]:
        return await self.rt.db.reader.run(
            lambda conn: store.entries(
                conn, principal, limit=limit, before_id=before_id, action=action
            )
        )
