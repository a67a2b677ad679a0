"""Administration of tenants and their API keys (stored as digests, shown once)."""

from __future__ import annotations

import re

from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal, Scope, operator
from sessionkeeper.domain.secrets import API_KEY_PREFIX, digest, new_secret
from sessionkeeper.errors import Conflict, InvalidInput, NotFound
from sessionkeeper.services.auth import Authenticator
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import tenants as store

MAX_TENANT_CHARS = 64
TENANT_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_TENANT_CHARS - 1}}}$")
DEFAULT_TENANT = "default"
# How much of a key is kept in clear, to tell keys apart in listings: "sk_" and 7 characters
# (42 of the key's 192 random bits).
KEY_PREFIX_CHARS = 10


def key_prefix(secret: str) -> str:
    return secret[:KEY_PREFIX_CHARS]


def store_new_key(
    conn: Connection, tenant_id: int | None, scope: str, secret: str, now: int
) -> int:
    """Store the digest of a new key (never the key, which is shown once); its id."""
    return store.create_key(
        conn, tenant_id, prefix=key_prefix(secret), key_hash=digest(secret), scope=scope, now=now
    )


def check_tenant_name(name: str) -> None:
    if not TENANT_NAME.match(name):
        raise InvalidInput(
            "tenant names are 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit",
            field="name",
        )


class TenantService:
    def __init__(self, runtime: Runtime, auth: Authenticator) -> None:
        self.rt = runtime
        self.auth = auth

    def create_tenant(self, name: str) -> store.Tenant:
        check_tenant_name(name)
        now = self.rt.clock.now_ms()
        tenant = self.rt.db.writer.run_sync(lambda tx: store.create_tenant(tx.conn, name, now))
        if tenant is None:
            raise Conflict(f"tenant '{name}' exists already")
        return tenant

    def list_tenants(self, *, after: int = 0, limit: int | None = None) -> list[store.Tenant]:
        return self.rt.db.reader.run_sync(
            lambda conn: store.list_tenants(conn, after=after, limit=limit)
        )

    def tenant(self, name: str) -> store.Tenant:
        tenant = self.rt.db.reader.run_sync(lambda conn: store.get_tenant(conn, name))
        if tenant is None:
            raise NotFound(f"no tenant named '{name}'")
        return tenant

    def operator(self, name: str) -> Principal:
        """The operator acting on the tenant ``name`` (the CLI)."""
        tenant = self.tenant(name)
        return operator(tenant.id, tenant.name)

    def create_key(self, tenant_name: str, scope: Scope) -> tuple[int, str]:
        """Make a key; returns (key id, the secret). The secret is shown once, never stored."""
        return self._new_key(self.tenant(tenant_name).id, scope.value)

    def create_operator_key(self) -> tuple[int, str]:
        """Make an operator key (no tenant: it acts on the whole server)."""
        return self._new_key(None, store.OPERATOR_SCOPE)

    def _new_key(self, tenant_id: int | None, scope: str) -> tuple[int, str]:
        secret = new_secret(API_KEY_PREFIX)
        now = self.rt.clock.now_ms()
        key_id = self.rt.db.writer.run_sync(
            lambda tx: store_new_key(tx.conn, tenant_id, scope, secret, now)
        )
        return key_id, secret

    def list_keys(
        self, tenant_name: str | None = None, *, after: int = 0, limit: int | None = None
    ) -> list[store.ApiKey]:
        tenant_id = None if tenant_name is None else self.tenant(tenant_name).id
        return self.rt.db.reader.run_sync(
            lambda conn: store.list_keys(conn, tenant_id, after=after, limit=limit)
        )

    def revoke_key(self, key_id: int) -> bool:
        """Revoke an active key of any tenant; False if there is no such key."""
        now = self.rt.clock.now_ms()
        if not self.rt.db.writer.run_sync(lambda tx: store.revoke_key(tx.conn, key_id, now)):
            return False
        self.auth.forget()
        return True

    def bootstrap(self) -> str | None:
        """On an empty database, create tenant ``default`` and return a new admin key."""
        if self.rt.db.reader.run_sync(store.count_tenants) > 0:
            return None
        self.create_tenant(DEFAULT_TENANT)
        return self.create_key(DEFAULT_TENANT, Scope.ADMIN)[1]
