"""Authentication: a credential in, a :class:`Principal` out.

Only this module looks at credentials; everything after it works with the principal.

Three kinds of API key exist: a tenant's keys (scope ingest, read or admin), operator keys
made with ``sessionkeeper key create --operator`` (stored as digests like any key), and the
operator key given in ``SESSIONKEEPER_OPERATOR_KEY``. An operator key acts on the whole
server; on the endpoints that work on one tenant's data it names that tenant in the
``Sessionkeeper-Tenant`` header (:meth:`Authenticator.acting_on`).
"""

from __future__ import annotations

import asyncio
import hmac

from sessionkeeper.clock import monotonic_s
from sessionkeeper.domain.principal import (
    Credential,
    Principal,
    Scope,
    operator,
    server_operator,
)
from sessionkeeper.domain.secrets import digest
from sessionkeeper.errors import Forbidden, Unauthorized
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import tenants as store

# Past this many cached keys the cache starts again: a bound on memory, not a policy.
MAX_CACHED_KEYS = 10_000


class Authenticator:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._pending: dict[str, asyncio.Future[Principal | None]] = {}
        self._generation = 0  # moved by forget(): lookups begun before it are not cached
        configured = runtime.settings.operator_key
        self._operator_digest = (
            None if configured is None else digest(configured.get_secret_value())
        )

    async def api_key(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        # The cache is keyed by digest (no secrets kept in memory) and uses a monotonic
        # clock: its expiry is about this process, not about session time.
        key_digest = digest(secret)
        if self._operator_digest is not None and hmac.compare_digest(
            key_digest, self._operator_digest
        ):
            return server_operator()
        cached = self._cache.get(key_digest)
        if cached is not None and cached[0] > monotonic_s():
            principal = cached[1]
        else:
            principal = await self._look_up(key_digest)
        if principal is None:
            raise Unauthorized("unknown or revoked API key")
        return principal

    async def _look_up(self, key_digest: str) -> Principal | None:
        """Read the key once for all the requests that need it now: when its cached lookup
        expires under load, every request in flight with that key would otherwise read it
        at the same moment."""
        pending = self._pending.get(key_digest)
        if pending is None:
            pending = asyncio.ensure_future(self._read(key_digest))
            self._pending[key_digest] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key_digest, None))
        # Shielded: a request that goes away does not cancel the others' lookup.
        return await asyncio.shield(pending)

    async def _read(self, key_digest: str) -> Principal | None:
        generation = self._generation
        key = await self.rt.db.reader.run(lambda conn: store.find_key(conn, key_digest))
        principal = None if key is None or key.revoked_at is not None else _principal(key)
        if generation != self._generation:
            return principal  # read before a revocation here: not to be cached past it
        if len(self._cache) > MAX_CACHED_KEYS:
            self._cache.clear()
        self._cache[key_digest] = (monotonic_s() + self.rt.settings.key_cache_ttl_s, principal)
        return principal

    async def acting_on(self, principal: Principal, tenant_name: str | None) -> Principal:
        """The principal for a request that names ``tenant_name`` (or none).

        An operator key becomes the operator of that tenant. A tenant's key may name only
        its own tenant: naming another is refused rather than ignored, so a caller who
        believes it switched tenants finds out.
        """
        if tenant_name is None:
            return principal
        if not principal.server_wide:
            if tenant_name != principal.tenant_name:
                raise Forbidden(
                    "this API key belongs to another tenant; only an operator key may name "
                    "the tenant it acts on",
                    code="tenant_mismatch",
                )
            return principal
        tenant = await self.rt.db.reader.run(lambda conn: store.get_tenant(conn, tenant_name))
        if tenant is None:
            raise Forbidden(f"no tenant named {tenant_name!r}", code="unknown_tenant")
        return operator(tenant.id, tenant.name, principal.credential_id)

    def forget(self) -> None:
        """Drop every cached lookup (a key was revoked through this process)."""
        self._cache.clear()
        self._pending.clear()
        self._generation += 1


def _principal(key: store.ApiKey) -> Principal:
    if key.tenant_id is None or key.tenant_name is None:
        return server_operator(str(key.id))
    return Principal(
        key.tenant_id,
        key.tenant_name,
        Scope(key.scope),
        Credential.API_KEY,
        credential_id=str(key.id),
    )
