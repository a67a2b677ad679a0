"""Tenants, API keys and who a request is (authentication and scopes)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sessionkeeper.clock import monotonic_s
from sessionkeeper.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import tenants as store

TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KEY_PREFIX = "sk_"
DEFAULT_TENANT = "default"


class Scope(StrEnum):
    INGEST = "ingest"  # write sessions, heartbeats, presence; read a session by id
    READ = "read"  # lists, health, policies; no writes
    ADMIN = "admin"  # everything

    def allows(self, needed: Scope) -> bool:
        return self is Scope.ADMIN or self is needed


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: int
    tenant_name: str
    scope: Scope

    def require(self, *needed: Scope) -> None:
        """Pass when the key's scope allows any of ``needed``."""
        if not any(self.scope.allows(scope) for scope in needed):
            wanted = " or ".join(f"'{scope}'" for scope in needed)
            raise Forbidden(f"this API key has scope '{self.scope}'; this needs {wanted}")


def hash_key(secret: str) -> str:
    # Keys are 190 random bits, so a fast digest is enough; no salt or stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


class TenantService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    def create_tenant(self, name: str) -> store.Tenant:
        if not TENANT_NAME.match(name):
            raise InvalidInput(
                "tenant names are 1-64 letters, digits, '.', '_' or '-'", field="name"
            )
        now = self.rt.clock.now_ms()
        tenant = self.rt.db.writer.run_sync(lambda conn: store.create_tenant(conn, name, now))
        if tenant is None:
            raise Conflict(f"tenant '{name}' exists already")
        return tenant

    def list_tenants(self) -> list[store.Tenant]:
        return self.rt.db.reader.run_sync(store.list_tenants)

    def _tenant(self, name: str) -> store.Tenant:
        tenant = self.rt.db.reader.run_sync(lambda conn: store.get_tenant(conn, name))
        if tenant is None:
            raise NotFound(f"no tenant named '{name}'")
        return tenant

    def create_key(self, tenant_name: str, scope: Scope) -> tuple[int, str]:
        """Make a key; returns (key id, the secret). The secret is shown once, never stored."""
        tenant = self._tenant(tenant_name)
        secret = KEY_PREFIX + secrets.token_urlsafe(24)
        now = self.rt.clock.now_ms()
        key_id = self.rt.db.writer.run_sync(
            lambda conn: store.create_key(
                conn,
                tenant.id,
                prefix=secret[:10],
                key_hash=hash_key(secret),
                scope=scope.value,
                now=now,
            )
        )
        return key_id, secret

    def list_keys(self, tenant_name: str | None = None) -> list[store.ApiKey]:
        tenant_id = None if tenant_name is None else self._tenant(tenant_name).id
        return self.rt.db.reader.run_sync(lambda conn: store.list_keys(conn, tenant_id))

    def revoke_key(self, key_id: int) -> None:
        now = self.rt.clock.now_ms()
        if not self.rt.db.writer.run_sync(lambda conn: store.revoke_key(conn, key_id, now)):
            raise NotFound(f"no active key with id {key_id}")
        self._cache.clear()

    def bootstrap(self) -> str | None:
        """On an empty database, create tenant ``default`` and return a new admin key."""
        if self.rt.db.reader.run_sync(store.count_tenants) > 0:
            return None
        self.create_tenant(DEFAULT_TENANT)
        return self.create_key(DEFAULT_TENANT, Scope.ADMIN)[1]

    async def authenticate(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        # The cache is keyed by digest (no secrets kept in memory) and uses a monotonic
        # clock: its expiry is about this process, not about session time.
        digest = hash_key(secret)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > monotonic_s():
            principal = cached[1]
        else:
            key = await self.rt.db.reader.run(lambda conn: store.find_key(conn, digest))
            principal = None
            if key is not None and key.revoked_at is None:
                principal = Principal(key.tenant_id, key.tenant_name, Scope(key.scope))
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (monotonic_s() + self.rt.settings.key_cache_ttl_s, principal)
        if principal is None:
            raise Unauthorized("unknown or revoked API key")
        return principal
