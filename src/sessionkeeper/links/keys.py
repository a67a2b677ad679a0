"""Publishable keys: API keys of scope ``publish`` (``pk_…``), each with the origins of the
pages it may be used from. Revoked like any key (``DELETE /v1/keys/{id}``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal, Scope
from sessionkeeper.domain.secrets import new_secret
from sessionkeeper.links import store
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.tenants import store_new_key
from sessionkeeper.storage import tenants as key_store
from sessionkeeper.storage.transaction import Transaction

PUBLISHABLE_PREFIX = "pk_"
MAX_KEYS_LISTED = 1000


@dataclass(frozen=True, slots=True)
class PublishableKey:
    key: key_store.ApiKey
    origins: list[str]


class PublishableKeys:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def create(
        self, principal: Principal, origins: Sequence[str]
    ) -> tuple[PublishableKey, str]:
        secret = new_secret(PUBLISHABLE_PREFIX)
        now = self.rt.clock.now_ms()

        def write(tx: Transaction) -> key_store.ApiKey | None:
            key_id = store_new_key(tx.conn, principal.tenant_id, Scope.PUBLISH.value, secret, now)
            store.insert_origins(tx.conn, principal.tenant_id, key_id, origins)
            return key_store.key_of(tx.conn, principal, key_id)

        key = await self.rt.db.writer.run(write)
        assert key is not None  # just written, in the principal's tenant
        return PublishableKey(key, sorted(origins)), secret

    async def list(self, principal: Principal) -> list[PublishableKey]:
        def read(conn: Connection) -> list[PublishableKey]:
            keys = key_store.keys_of(conn, principal, after=0, limit=MAX_KEYS_LISTED)
            origins = store.origins_of(conn, principal)
            return [
                PublishableKey(k, origins.get(k.id, []))
                for k in keys
                if k.scope == Scope.PUBLISH.value
            ]

        return await self.rt.db.reader.run(read)
