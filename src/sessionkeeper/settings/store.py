"""SQL for tenant settings."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.settings.rules import DEFAULT_TIMEZONE
from sessionkeeper.settings.tables import tenant_settings as t
from sessionkeeper.storage.dialect import upsert


@dataclass(frozen=True, slots=True)
class TenantSettings:
    timezone: str = DEFAULT_TIMEZONE
    updated_at: int | None = None


def get(conn: Connection, tenant_id: int) -> TenantSettings:
    row = conn.execute(sa.select(t).where(t.c.tenant_id == tenant_id)).first()
    if row is None:
        return TenantSettings()
    return TenantSettings(timezone=row.timezone, updated_at=row.updated_at)


def timezone_of(conn: Connection, tenant_id: int) -> str:
    """The tenant's IANA time zone name (``UTC`` unless set)."""
    return get(conn, tenant_id).timezone


def timezones_of(conn: Connection, tenant_ids: list[int]) -> dict[int, str]:
    """The time zone of each tenant, in one query."""
    rows = conn.execute(sa.select(t.c.tenant_id, t.c.timezone).where(t.c.tenant_id.in_(tenant_ids)))
    found = {tenant_id: timezone for tenant_id, timezone in rows}
    return {tenant_id: found.get(tenant_id, DEFAULT_TIMEZONE) for tenant_id in tenant_ids}


def put_timezone(conn: Connection, tenant_id: int, timezone: str, now: int) -> None:
    values = {"tenant_id": tenant_id, "timezone": timezone, "updated_at": now}
    conn.execute(upsert(conn, t, values, keys=["tenant_id"]))
