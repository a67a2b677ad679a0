"""SQL for tenants and their API keys (stored as SHA-256 digests, never in clear)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.storage.tables import api_keys, tenants


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    tenant_id: int
    tenant_name: str
    prefix: str
    scope: str
    created_at: int
    revoked_at: int | None


def count_tenants(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(tenants)).scalar_one()


def create_tenant(conn: Connection, name: str, now: int) -> Tenant | None:
    """The new tenant, or None when the name is taken."""
    if get_tenant(conn, name) is not None:
        return None
    new_id = conn.execute(
        tenants.insert().values(name=name, created_at=now).returning(tenants.c.id)
    ).scalar_one()
    return Tenant(id=new_id, name=name, created_at=now)


def get_tenant(conn: Connection, name: str) -> Tenant | None:
    row = conn.execute(sa.select(tenants).where(tenants.c.name == name)).first()
    return None if row is None else Tenant(id=row.id, name=row.name, created_at=row.created_at)


def list_tenants(conn: Connection) -> list[Tenant]:
    rows = conn.execute(sa.select(tenants).order_by(tenants.c.id))
    return [Tenant(id=r.id, name=r.name, created_at=r.created_at) for r in rows]


def _key_select() -> sa.Select[tuple[object, ...]]:
    return sa.select(
        api_keys.c.id,
        api_keys.c.tenant_id,
        tenants.c.name,
        api_keys.c.prefix,
        api_keys.c.scope,
        api_keys.c.created_at,
        api_keys.c.revoked_at,
    ).join(tenants, tenants.c.id == api_keys.c.tenant_id)


def _to_key(row: sa.Row[tuple[object, ...]]) -> ApiKey:
    values = row._mapping
    return ApiKey(
        id=values["id"],
        tenant_id=values["tenant_id"],
        tenant_name=values["name"],
        prefix=values["prefix"],
        scope=values["scope"],
        created_at=values["created_at"],
        revoked_at=values["revoked_at"],
    )


def create_key(
    conn: Connection, tenant_id: int, *, prefix: str, key_hash: str, scope: str, now: int
) -> int:
    key_id: int = conn.execute(
        api_keys.insert()
        .values(tenant_id=tenant_id, prefix=prefix, key_hash=key_hash, scope=scope, created_at=now)
        .returning(api_keys.c.id)
    ).scalar_one()
    return key_id


def find_key(conn: Connection, key_hash: str) -> ApiKey | None:
    row = conn.execute(_key_select().where(api_keys.c.key_hash == key_hash)).first()
    return None if row is None else _to_key(row)


def list_keys(conn: Connection, tenant_id: int | None = None) -> list[ApiKey]:
    stmt = _key_select().order_by(api_keys.c.id)
    if tenant_id is not None:
        stmt = stmt.where(api_keys.c.tenant_id == tenant_id)
    return [_to_key(row) for row in conn.execute(stmt)]


def revoke_key(conn: Connection, key_id: int, now: int) -> bool:
    result = conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1
