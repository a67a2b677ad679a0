"""SQL for tenants and their API keys (stored as SHA-256 digests, never in clear).

An operator key is an API key with no tenant and the scope ``operator``. Listings page by
id (keyset): ``after`` is the last id of the previous page.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.tables import api_keys, tenants

OPERATOR_SCOPE = "operator"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    # None for an operator key.
    tenant_id: int | None
    tenant_name: str | None
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


def get_tenant_by_id(conn: Connection, tenant_id: int) -> Tenant | None:
    row = conn.execute(sa.select(tenants).where(tenants.c.id == tenant_id)).first()
    return None if row is None else Tenant(id=row.id, name=row.name, created_at=row.created_at)


def list_tenants(conn: Connection, *, after: int = 0, limit: int | None = None) -> list[Tenant]:
    stmt = sa.select(tenants).where(tenants.c.id > after).order_by(tenants.c.id).limit(limit)
    return [Tenant(id=r.id, name=r.name, created_at=r.created_at) for r in conn.execute(stmt)]


def _key_select() -> sa.Select[tuple[object, ...]]:
    return sa.select(
        api_keys.c.id,
        api_keys.c.tenant_id,
        tenants.c.name,
        api_keys.c.prefix,
        api_keys.c.scope,
        api_keys.c.created_at,
        api_keys.c.revoked_at,
    ).outerjoin(tenants, tenants.c.id == api_keys.c.tenant_id)


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
    conn: Connection, tenant_id: int | None, *, prefix: str, key_hash: str, scope: str, now: int
) -> int:
    """A new key's id; ``tenant_id`` None with the scope "operator" makes an operator key."""
    key_id: int = conn.execute(
        api_keys.insert()
        .values(tenant_id=tenant_id, prefix=prefix, key_hash=key_hash, scope=scope, created_at=now)
        .returning(api_keys.c.id)
    ).scalar_one()
    return key_id


def find_key(conn: Connection, key_hash: str) -> ApiKey | None:
    row = conn.execute(_key_select().where(api_keys.c.key_hash == key_hash)).first()
    return None if row is None else _to_key(row)


def list_keys(
    conn: Connection, tenant_id: int | None = None, *, after: int = 0, limit: int | None = None
) -> list[ApiKey]:
    """Every key (operator keys too), or only the keys of ``tenant_id``."""
    stmt = _key_select().where(api_keys.c.id > after).order_by(api_keys.c.id).limit(limit)
    if tenant_id is not None:
        stmt = stmt.where(api_keys.c.tenant_id == tenant_id)
    return [_to_key(row) for row in conn.execute(stmt)]


def keys_of(conn: Connection, principal: Principal, *, after: int, limit: int) -> list[ApiKey]:
    """The keys of the principal's tenant."""
    stmt = (
        _key_select()
        .where(visible_to(api_keys, principal), api_keys.c.id > after)
        .order_by(api_keys.c.id)
        .limit(limit)
    )
    return [_to_key(row) for row in conn.execute(stmt)]


def key_of(conn: Connection, principal: Principal, key_id: int) -> ApiKey | None:
    stmt = _key_select().where(visible_to(api_keys, principal), api_keys.c.id == key_id)
    row = conn.execute(stmt).first()
    return None if row is None else _to_key(row)


def revoke_key(conn: Connection, key_id: int, now: int) -> bool:
    result = conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1
