"""Erasing a user and exporting all of their data, both written to the audit log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal, Scope
from sessionkeeper.domain.times import iso_z
from sessionkeeper.learning import privacy_store
from sessionkeeper.learning.service import Learning
from sessionkeeper.storage import audit as audit_store
from sessionkeeper.storage.transaction import Transaction

# Rows per read of the export: memory stays flat however much a user has.
EXPORT_PAGE = 500
TIME_FIELDS = frozenset(
    {"started_at", "last_seen_at", "expires_at", "ended_at", "amended_at", "at", "received_at"}
)

Page = Callable[[Connection, int, str, int, int, int], list[tuple[int, dict[str, Any]]]]


def _json_row(row: dict[str, Any]) -> str:
    out = {
        name: iso_z(value) if name in TIME_FIELDS and isinstance(value, int) else value
        for name, value in row.items()
        if name not in ("seq", "tenant_id")
    }
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"), default=str)


class Privacy:
    def __init__(self, learning: Learning) -> None:
        self.rt = learning.rt

    async def erase(self, principal: Principal, user_id: str) -> dict[str, int]:
        """Delete every row of ``user_id``; an end user may erase only themself."""
        if principal.user_id is None:
            principal.require(Scope.ADMIN)
        now = self.rt.clock.now_ms()

        def erase(tx: Transaction) -> dict[str, int]:
            counts = privacy_store.erase(tx.conn, principal.tenant_id, user_id)
            audit_store.record(
                tx.conn, principal, "user.erase", at=now, target=user_id, details=counts
            )
            return counts

        return await self.rt.db.writer.run(erase)

    async def export(self, principal: Principal, user_id: str) -> AsyncIterator[str]:
        """The user's sessions (with outcomes) and events as one JSON document, in pieces."""
        counts = {"sessions": 0, "events": 0}
        now = self.rt.clock.now_ms()
        yield json.dumps({"user_id": user_id, "exported_at": iso_z(now)})[:-1]
        for name, page in (
            ("sessions", privacy_store.session_page),
            ("events", privacy_store.event_page),
        ):
            yield f',"{name}":['
            after = 0
            first = True
            while True:
                rows = await self._page(page, principal.tenant_id, user_id, after, now)
                for seq, row in rows:
                    yield ("" if first else ",") + _json_row(row)
                    first = False
                    after = seq
                counts[name] += len(rows)
                if len(rows) < EXPORT_PAGE:
                    break
            yield "]"
        yield "}"
        done = self.rt.clock.now_ms()
        await self.rt.db.writer.run(
            lambda tx: audit_store.record(
                tx.conn, principal, "user.export", at=done, target=user_id, details=counts
            )
        )

    async def _page(
        self, page: Page, tenant_id: int, user_id: str, after: int, now: int
    ) -> list[tuple[int, dict[str, Any]]]:
        return await self.rt.db.reader.run(
            lambda conn: page(conn, tenant_id, user_id, after, EXPORT_PAGE, now)
        )
