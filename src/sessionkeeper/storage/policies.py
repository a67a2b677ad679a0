"""SQL for per-tenant, per-kind policies."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.policy import Policy
from sessionkeeper.storage.dialect import greatest, upsert
from sessionkeeper.storage.tables import policies as t


def load(conn: Connection, tenant_id: int) -> dict[str, Policy]:
    rows = conn.execute(sa.select(t).where(t.c.tenant_id == tenant_id))
    return {
        row.kind: Policy(
            heartbeat_interval_s=row.heartbeat_interval_ms / 1000,
            timeout_s=row.timeout_ms / 1000,
            grace_s=row.grace_ms / 1000,
            presence_interval_s=row.presence_interval_ms / 1000,
            room_timeout_s=row.room_timeout_ms / 1000,
            hidden_timeout_s=row.hidden_timeout_ms / 1000,
        )
        for row in rows
    }


def save(conn: Connection, tenant_id: int, kind: str, policy: Policy, now: int) -> None:
    values = {
        "tenant_id": tenant_id,
        "kind": kind,
        "heartbeat_interval_ms": round(policy.heartbeat_interval_s * 1000),
        "timeout_ms": policy.timeout_ms,
        "grace_ms": policy.grace_ms,
        "presence_interval_ms": policy.presence_interval_ms,
        "room_timeout_ms": policy.room_timeout_ms,
        "hidden_timeout_ms": policy.hidden_timeout_ms,
        "updated_at": now,
        "longest_timeout_ms": policy.timeout_ms,
    }
    # Only ever raised: the sessions beaten under a longer timeout keep it.
    stmt = upsert(
        conn,
        t,
        values,
        keys=["tenant_id", "kind"],
        merge=lambda new: {"longest_timeout_ms": greatest(t.c.longest_timeout_ms, new.timeout_ms)},
    )
    conn.execute(stmt)


def longest_timeout(conn: Connection, tenant_id: int) -> int:
    """The longest timeout any policy of the tenant has had (0 without one): no session of
    the tenant was given a longer one, but by the default policy."""
    stmt = sa.select(sa.func.max(t.c.longest_timeout_ms)).where(t.c.tenant_id == tenant_id)
    return int(conn.execute(stmt).scalar_one() or 0)
