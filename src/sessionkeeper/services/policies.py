"""Per tenant and kind policies: reading them (cached) and changing them."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from sessionkeeper.clock import monotonic_s
from sessionkeeper.domain.policy import DEFAULT_KIND, Policy, PolicyError, build_policy
from sessionkeeper.domain.policy import resolve_policy as resolve
from sessionkeeper.errors import InvalidInput
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import policies as store
from sessionkeeper.storage import sessions as session_store

# Another server process may change a policy; this bounds how long we use a stale one.
CACHE_TTL_S = 5.0


class PolicyService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._cache: dict[int, tuple[float, dict[str, Policy]]] = {}

    async def all(self, tenant_id: int) -> dict[str, Policy]:
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[0] > monotonic_s():
            return cached[1]
        policies = await self.rt.db.reader.run(lambda conn: store.load(conn, tenant_id))
        self._cache[tenant_id] = (monotonic_s() + CACHE_TTL_S, policies)
        return policies

    async def for_kind(self, tenant_id: int, kind: str) -> Policy:
        return resolve(await self.all(tenant_id), kind)

    async def put(
        self,
        tenant_id: int,
        kind: str,
        *,
        heartbeat_interval_s: float | None,
        timeout_s: float | None,
        grace_s: float | None,
    ) -> Policy:
        try:
            policy = build_policy(heartbeat_interval_s, timeout_s, grace_s)
        except PolicyError as exc:
            raise InvalidInput(str(exc), field=exc.field) from exc
        now = self.rt.clock.now_ms()
        own_kinds = [k for k in await self.all(tenant_id) if k not in (DEFAULT_KIND, kind)]

        def write(conn: Connection) -> None:
            store.save(conn, tenant_id, kind, policy, now)
            # Active sessions take the new timeout and grace from their next heartbeat on;
            # a '*' policy reaches only kinds without a policy of their own.
            session_store.apply_policy(
                conn,
                tenant_id,
                None if kind == DEFAULT_KIND else [kind],
                timeout_ms=policy.timeout_ms,
                grace_ms=policy.grace_ms,
                exclude_kinds=own_kinds if kind == DEFAULT_KIND else (),
            )

        await self.rt.db.writer.run(write)
        self._cache.pop(tenant_id, None)
        return policy
