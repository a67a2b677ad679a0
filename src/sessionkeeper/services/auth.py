"""Authentication: a credential in, a :class:`Principal` out.

Only this module looks at credentials; everything after it works with the principal.
"""

from __future__ import annotations

from sessionkeeper.clock import monotonic_s
from sessionkeeper.domain.principal import Credential, Principal, Scope
from sessionkeeper.domain.secrets import digest
from sessionkeeper.errors import Unauthorized
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import tenants as store

# Past this many cached keys the cache starts again: a bound on memory, not a policy.
MAX_CACHED_KEYS = 10_000


class Authenticator:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def api_key(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        # The cache is keyed by digest (no secrets kept in memory) and uses a monotonic
        # clock: its expiry is about this process, not about session time.
        key_digest = digest(secret)
        cached = self._cache.get(key_digest)
        if cached is not None and cached[0] > monotonic_s():
            principal = cached[1]
        else:
            key = await self.rt.db.reader.run(lambda conn: store.find_key(conn, key_digest))
            principal = None
            if key is not None and key.revoked_at is None:
                principal = Principal(
                    key.tenant_id, key.tenant_name, Scope(key.scope), Credential.API_KEY
                )
            if len(self._cache) > MAX_CACHED_KEYS:
                self._cache.clear()
            self._cache[key_digest] = (
                monotonic_s() + self.rt.settings.key_cache_ttl_s,
                principal,
            )
        if principal is None:
            raise Unauthorized("unknown or revoked API key")
        return principal

    def forget(self) -> None:
        """Drop every cached lookup (a key was revoked through this process)."""
        self._cache.clear()
