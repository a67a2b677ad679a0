"""The audit log: actions taken by hand on the record, and on a person's data.

Write an entry inside the op that does the action (``storage.audit.record`` on the op's
connection) where there is one, so the entry commits with it; :meth:`AuditLog.record` is for
actions that are not one write (an export, a run of the sweep).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sessionkeeper.domain.principal import Principal, shown_actor
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import audit as store


@dataclass(frozen=True, slots=True)
class LogPage:
    """A page of the log as clients see it: entries' ids, and the keys their actors name, are
    public ids (``domain/public_ids.py``), and so is ``next_before``."""

    entries: list[store.AuditEntry]
    next_before: int | None


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

    async def page(
        self,
        principal: Principal,
        *,
        limit: int,
        before: int | None = None,
        action: str | None = None,
    ) -> LogPage:
        """The entries older than the public id ``before``, newest first, as clients see
        them (for ``/v1/audit`` and the dashboard alike)."""
        ids = self.rt.db.public_ids
        before_id = None if before is None else ids.audit.row(before)
        found = await self.entries(principal, limit=limit + 1, before_id=before_id, action=action)
        shown = [
            replace(entry, id=ids.audit.public(entry.id), actor=shown_actor(entry.actor, ids))
            for entry in found[:limit]
        ]
        return LogPage(shown, shown[-1].id if len(found) > limit else None)
