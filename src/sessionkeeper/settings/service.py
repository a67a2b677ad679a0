"""Reading and changing a tenant's settings."""

from __future__ import annotations

from sessionkeeper.domain.principal import Principal, Scope
from sessionkeeper.errors import InvalidInput
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.settings import store
from sessionkeeper.settings.changes import TimezoneChanged
from sessionkeeper.settings.rules import timezone_error
from sessionkeeper.storage.transaction import Transaction


class SettingsService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def get(self, principal: Principal) -> store.TenantSettings:
        return await self.rt.db.reader.run(lambda conn: store.get(conn, principal.tenant_id))

    async def timezone(self, principal: Principal) -> str:
        return (await self.get(principal)).timezone

    async def put(self, principal: Principal, *, timezone: str) -> store.TenantSettings:
        principal.require(Scope.ADMIN)
        error = timezone_error(timezone)
        if error is not None:
            raise InvalidInput(error, field="timezone", code="unknown_timezone")
        now = self.rt.clock.now_ms()

        def put(tx: Transaction) -> store.TenantSettings:
            previous = store.timezone_of(tx.conn, principal.tenant_id)
            store.put_timezone(tx.conn, principal.tenant_id, timezone, now)
            if previous != timezone:
                tx.record(
                    TimezoneChanged(
                        tenant_id=principal.tenant_id,
                        timezone=timezone,
                        previous=previous,
                        at=now,
                    )
                )
            return store.get(tx.conn, principal.tenant_id)

        return await self.rt.db.writer.run(put)
