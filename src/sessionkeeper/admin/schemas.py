"""Bodies of the admin endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictStr

from sessionkeeper.admin.service import NewKey, NewTenant
from sessionkeeper.api.fields import WriteBody
from sessionkeeper.domain.public_ids import PublicIds
from sessionkeeper.domain.times import from_ms
from sessionkeeper.services.tenants import TENANT_NAME
from sessionkeeper.storage import tenants as store


class KeyIn(WriteBody):
    scope: Literal["ingest", "read", "admin"] = Field(description="What the new key may do")


class KeyOut(BaseModel):
    id: int = Field(description="The key's id: a number that names it and counts nothing")
    tenant: str
    prefix: str = Field(description="The first characters of the key, to tell keys apart")
    scope: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: store.ApiKey, ids: PublicIds) -> KeyOut:
        return cls(
            id=ids.keys.public(key.id),
            tenant=key.tenant_name or "",
            prefix=key.prefix,
            scope=key.scope,
            created_at=from_ms(key.created_at),
            revoked_at=None if key.revoked_at is None else from_ms(key.revoked_at),
        )


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself, shown only in this answer: store it now")

    @classmethod
    def of_new(cls, new: NewKey, ids: PublicIds) -> NewKeyOut:
        return cls(**KeyOut.of(new.key, ids).model_dump(), key=new.secret)


class KeyPage(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


class TenantIn(WriteBody):
    name: Annotated[StrictStr, Field(pattern=TENANT_NAME.pattern, examples=["reading-room"])]


class TenantOut(BaseModel):
    id: int = Field(description="The tenant's id, as in its jobs' names (sweep@<id>)")
    name: str
    created_at: datetime

    @classmethod
    def of(cls, tenant: store.Tenant, ids: PublicIds) -> TenantOut:
        return cls(
            id=ids.tenants.public(tenant.id),
            name=tenant.name,
            created_at=from_ms(tenant.created_at),
        )


class NewTenantOut(TenantOut):
    admin_key: NewKeyOut = Field(description="The tenant's first admin key, shown only now")

    @classmethod
    def of_new(cls, new: NewTenant, ids: PublicIds) -> NewTenantOut:
        return cls(
            **TenantOut.of(new.tenant, ids).model_dump(),
            admin_key=NewKeyOut.of_new(new.admin_key, ids),
        )


class TenantPage(BaseModel):
    items: list[TenantOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")
