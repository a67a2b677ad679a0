"""Per tenant and kind policies: reading them and changing them.

Writes that need a policy (starts, presence) read it inside their own transaction, so no
process ever works from a stale copy.
"""

from __future__ import annotations

from sessionkeeper.domain.events import PolicyChanged
from sessionkeeper.domain.policy import DEFAULT_KIND, Policy, PolicyError, build_policy
from sessionkeeper.domain.principal import Principal
from sessionkeeper.errors import InvalidInput
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import policies as store
from sessionkeeper.storage import sessions as session_store
from sessionkeeper.storage.transaction import Transaction


class PolicyService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def all(self, principal: Principal) -> dict[str, Policy]:
        return await self.rt.db.reader.run(lambda conn: store.load(conn, principal.tenant_id))

    async def put(
        self,
        principal: Principal,
        kind: str,
        *,
        heartbeat_interval_s: float | None,
        timeout_s: float | None,
        grace_s: float | None,
        presence_interval_s: float | None = None,
        room_timeout_s: float | None = None,
        hidden_timeout_s: float | None = None,
    ) -> Policy:
        try:
            policy = build_policy(
                heartbeat_interval_s,
                timeout_s,
                grace_s,
                presence_interval_s,
                room_timeout_s,
                hidden_timeout_s,
            )
        except PolicyError as exc:
            raise InvalidInput(str(exc), field=exc.field) from exc
        now = self.rt.clock.now_ms()

        def write(tx: Transaction) -> None:
            own_kinds = [
                k for k in store.load(tx.conn, principal.tenant_id) if k not in (DEFAULT_KIND, kind)
            ]
            store.save(tx.conn, principal.tenant_id, kind, policy, now)
            # Active sessions take the new timeout from their next heartbeat on, the new
            # grace at once; a '*' policy reaches only kinds without a policy of their own.
            session_store.apply_policy(
                tx,
                principal,
                None if kind == DEFAULT_KIND else [kind],
                now=now,
                timeout_ms=policy.timeout_ms,
                grace_ms=policy.grace_ms,
                interval_ms=policy.interval_ms,
                exclude_kinds=own_kinds if kind == DEFAULT_KIND else (),
            )
            # Features that time their sessions from other fields of the policy bring them
            # up to date in the same transaction.
            tx.record(PolicyChanged(tenant_id=principal.tenant_id, kind=kind, at=now))

        await self.rt.db.writer.run(write)
        return policy
