"""Typed results of the admin API: a tenant's API keys, and tenants (operator key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sessionkeeper.client.models import Json, parse_time


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as listed: its prefix only (keys are stored as digests)."""

    id: int
    tenant: str
    prefix: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> ApiKey:
        revoked = data.get("revoked_at")
        return cls(
            id=data["id"],
            tenant=data["tenant"],
            prefix=data["prefix"],
            scope=data["scope"],
            created_at=parse_time(data["created_at"]),
            revoked_at=None if revoked is None else parse_time(revoked),
        )


@dataclass(frozen=True, slots=True)
class NewApiKey(ApiKey):
    """A key just made, with the key itself: this is the only time it is shown."""

    key: str

    @classmethod
    def from_json(cls, data: Json) -> NewApiKey:
        listed = ApiKey.from_json(data)
        return cls(**{name: getattr(listed, name) for name in ApiKey.__slots__}, key=data["key"])


@dataclass(frozen=True, slots=True)
class ApiKeyPage:
    items: tuple[ApiKey, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Json) -> ApiKeyPage:
        items = tuple(ApiKey.from_json(item) for item in data["items"])
        return cls(items=items, next_cursor=data.get("next_cursor"))


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    name: str
    created_at: datetime

    @classmethod
    def from_json(cls, data: Json) -> Tenant:
        return cls(id=data["id"], name=data["name"], created_at=parse_time(data["created_at"]))


@dataclass(frozen=True, slots=True)
class NewTenant(Tenant):
    """A tenant just made, with its first admin key (shown only now)."""

    admin_key: NewApiKey

    @classmethod
    def from_json(cls, data: Json) -> NewTenant:
        tenant = Tenant.from_json(data)
        return cls(
            id=tenant.id,
            name=tenant.name,
            created_at=tenant.created_at,
            admin_key=NewApiKey.from_json(data["admin_key"]),
        )


@dataclass(frozen=True, slots=True)
class TenantPage:
    items: tuple[Tenant, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Json) -> TenantPage:
        items = tuple(Tenant.from_json(item) for item in data["items"])
        return cls(items=items, next_cursor=data.get("next_cursor"))
