"""HTTP for the admin endpoints: ``/v1/keys`` and ``/v1/tenants``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from sessionkeeper.admin.schemas import (
    KeyIn,
    KeyOut,
    KeyPage,
    NewKeyOut,
    NewTenantOut,
    TenantIn,
    TenantOut,
    TenantPage,
)
from sessionkeeper.admin.service import AdminService
from sessionkeeper.api.deps import AdminScope, OperatorScope, ServicesDep
from sessionkeeper.api.openapi import problems
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.domain.ids import MAX_ROW_ID
from sessionkeeper.domain.principal import Scope
from sessionkeeper.errors import InvalidInput

router = api_router(prefix="/v1", tags=["admin"], route_class=StrictJSONRoute)

MAX_PAGE = 500
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=20, description="next_cursor of a page")]


def _after(cursor: str | None) -> int:
    if cursor is None:
        return 0
    # ASCII digits only: str.isdigit also takes "²", which int() refuses.
    if not (cursor.isascii() and cursor.isdigit()) or int(cursor) > MAX_ROW_ID:
        raise InvalidInput("cursor is not one this server issued", field="cursor")
    return int(cursor)


def _next(ids: list[int], limit: int) -> str | None:
    return str(ids[-1]) if len(ids) == limit else None


@router.get("/keys", response_model=KeyPage)
async def list_keys(
    principal: AdminScope, services: ServicesDep, limit: Limit = 100, cursor: Cursor = None
) -> KeyPage:
    """The API keys of the caller's tenant (their prefixes: keys are stored as digests)."""
    keys = await services.of(AdminService).keys(principal, after=_after(cursor), limit=limit)
    return KeyPage(
        items=[KeyOut.of(k) for k in keys], next_cursor=_next([k.id for k in keys], limit)
    )


@router.post("/keys", status_code=201, response_model=NewKeyOut)
async def create_key(body: KeyIn, principal: AdminScope, services: ServicesDep) -> NewKeyOut:
    """Make a key for the caller's tenant. The answer holds the key; it is never shown again."""
    new = await services.of(AdminService).create_key(principal, Scope(body.scope))
    return NewKeyOut.of_new(new)


@router.delete("/keys/{key_id}", response_model=KeyOut, responses=problems(404))
async def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)], principal: AdminScope, services: ServicesDep
) -> KeyOut:
    """Revoke one of the tenant's keys; it stops working within the key cache's lifetime
    (5 s by default) on every server. Revoking it again answers the same."""
    return KeyOut.of(await services.of(AdminService).revoke_key(principal, key_id))


@router.get("/tenants", response_model=TenantPage)
async def list_tenants(
    _operator: OperatorScope, services: ServicesDep, limit: Limit = 100, cursor: Cursor = None
) -> TenantPage:
    """Every tenant of the server (operator key only)."""
    tenants = await services.of(AdminService).list_tenants(after=_after(cursor), limit=limit)
    return TenantPage(
        items=[TenantOut.of(t) for t in tenants], next_cursor=_next([t.id for t in tenants], limit)
    )


@router.post("/tenants", status_code=201, response_model=NewTenantOut, responses=problems(409))
async def create_tenant(
    body: TenantIn, _operator: OperatorScope, services: ServicesDep
) -> NewTenantOut:
    """Create a tenant with its first admin key (operator key only). The answer holds the
    key; it is never shown again."""
    return NewTenantOut.of_new(await services.of(AdminService).create_tenant(body.name))
