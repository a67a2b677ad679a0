"""Bodies of the admin endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictStr

from sessionkeeper.admin.service import NewKey, NewTenant
from sessionkeeper.api.fields import WriteBody
from sessionkeeper.domain.times import from_ms
from sessionkeeper.services.tenants import TENANT_NAME
from sessionkeeper.storage import tenants as store


class KeyIn(WriteBody):
    scope: Literal["ingest", "read", "admin"] = Field(description="What the new key may do")


class KeyOut(BaseModel):
    id: int
    tenant: str
    prefix: str = Field(description="The first characters of the key, to tell keys apart")
    scope: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: store.ApiKey) -> KeyOut:
        return cls(
            id=key.id,
            tenant=key.tenant_name or "",
            prefix=key.prefix,
            scope=key.scope,
            created_at=from_ms(key.created_at),
            revoked_at=None if key.revoked_at is None else from_ms(key.revoked_at),
        )


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself, shown only in this answer: store it now")

    @classmethod
    def of_new(cls, new: NewKey) -> NewKeyOut:
        return cls(**KeyOut.of(new.key).model_dump(), key=new.secret)


class KeyPage(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


class TenantIn(WriteBody):
    name: Annotated[StrictStr, Field(pattern=TENANT_NAME.pattern, examples=["reading-room"])]


class TenantOut(BaseModel):
    id: int
    name: str
    created_at: datetime

    @classmethod
    def of(cls, tenant: store.Tenant) -> TenantOut:
        return cls(id=tenant.id, name=tenant.name, created_at=from_ms(tenant.created_at))


class NewTenantOut(TenantOut):
    admin_key: NewKeyOut = Field(description="The tenant's first admin key, shown only now")

    @classmethod
    def of_new(cls, new: NewTenant) -> NewTenantOut:
        return cls(
            **TenantOut.of(new.tenant).model_dump(), admin_key=NewKeyOut.of_new(new.admin_key)
        )


class TenantPage(BaseModel):
    items: list[TenantOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")
