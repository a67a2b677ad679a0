"""API keys of the caller's tenant, and tenants for the operator, through the writer.

A tenant's admin key (or the operator key naming the tenant) manages that tenant's keys and
no other's: every key is read and revoked through the principal's scope, so another tenant's
key id answers 404 like an id that does not exist. Operator keys are made only at the
server's command line (``sessionkeeper key create --operator``) or in its settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionkeeper.domain.principal import Principal, Scope, operator
from sessionkeeper.domain.secrets import API_KEY_PREFIX, new_secret
from sessionkeeper.errors import Conflict
from sessionkeeper.services.container import Services
from sessionkeeper.services.tenants import check_tenant_name, store_new_key
from sessionkeeper.storage import tenants as store
from sessionkeeper.storage.transaction import Transaction


@dataclass(frozen=True, slots=True)
class NewKey:
    key: store.ApiKey
    # The key itself, shown once: only its digest is stored.
    secret: str


@dataclass(frozen=True, slots=True)
class NewTenant:
    tenant: store.Tenant
    admin_key: NewKey


class AdminService:
    def __init__(self, services: Services) -> None:
        self.rt = services.runtime
        self.tenants = services.tenants
        self.auth = services.auth

    async def keys(self, principal: Principal, *, after: int, limit: int) -> list[store.ApiKey]:
        return await self.rt.db.reader.run(
            lambda conn: store.keys_of(conn, principal, after=after, limit=limit)
        )

    async def create_key(self, principal: Principal, scope: Scope) -> NewKey:
        secret = new_secret(API_KEY_PREFIX)
        now = self.rt.clock.now_ms()

        def create(tx: Transaction) -> store.ApiKey | None:
            key_id = store_new_key(tx.conn, principal.tenant_id, scope.value, secret, now)
            return store.key_of(tx.conn, principal, key_id)

        key = await self.rt.db.writer.run(create)
        assert key is not None  # just written, in the principal's tenant
        return NewKey(key, secret)

    async def revoke_key(self, principal: Principal, key_id: int) -> store.ApiKey | None:
        """Revoke one of the tenant's keys (None: it has no such key); revoking a revoked key
        changes nothing."""
        now = self.rt.clock.now_ms()

        def revoke(tx: Transaction) -> store.ApiKey | None:
            if store.key_of(tx.conn, principal, key_id) is None:
                return None
            store.revoke_key(tx.conn, key_id, now)
            return store.key_of(tx.conn, principal, key_id)

        key = await self.rt.db.writer.run(revoke)
        if key is not None:
            self.auth.forget()
        return key

    async def list_tenants(self, *, after: int, limit: int) -> list[store.Tenant]:
        return await self.rt.db.reader.run(
            lambda conn: store.list_tenants(conn, after=after, limit=limit)
        )

    async def create_tenant(self, name: str) -> NewTenant:
        """A new tenant and its first admin key, in one transaction."""
        check_tenant_name(name)
        secret = new_secret(API_KEY_PREFIX)
        now = self.rt.clock.now_ms()

        def create(tx: Transaction) -> tuple[store.Tenant, store.ApiKey | None] | None:
            tenant = store.create_tenant(tx.conn, name, now)
            if tenant is None:
                return None
            key_id = store_new_key(tx.conn, tenant.id, Scope.ADMIN.value, secret, now)
            return tenant, store.key_of(tx.conn, operator(tenant.id, tenant.name), key_id)

        created = await self.rt.db.writer.run(create)
        if created is None:
            raise Conflict(f"tenant '{name}' exists already", code="tenant_exists")
        tenant, key = created
        assert key is not None
        return NewTenant(tenant, NewKey(key, secret))
