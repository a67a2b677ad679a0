"""HTTP for the admin endpoints: ``/v1/keys`` and ``/v1/tenants``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

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
from sessionkeeper.api.public_ids import (
    CursorQuery,
    IdsDep,
    PublicIdPath,
    after_cursor,
    next_cursor,
    row_of,
)
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.domain.principal import Scope
from sessionkeeper.errors import NotFound

router = api_router(prefix="/v1", tags=["admin"], route_class=StrictJSONRoute)

MAX_PAGE = 500
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.get("/keys", response_model=KeyPage)
async def list_keys(
    principal: AdminScope,
    services: ServicesDep,
    ids: IdsDep,
    limit: Limit = 100,
    cursor: CursorQuery = None,
) -> KeyPage:
    """The API keys of the caller's tenant (their prefixes: keys are stored as digests)."""
    after = after_cursor(ids.keys, cursor)
    keys = await services.of(AdminService).keys(principal, after=after, limit=limit)
    return KeyPage(
        items=[KeyOut.of(k, ids) for k in keys],
        next_cursor=next_cursor(ids.keys, [k.id for k in keys], limit),
    )


@router.post("/keys", status_code=201, response_model=NewKeyOut)
async def create_key(
    body: KeyIn, principal: AdminScope, services: ServicesDep, ids: IdsDep
) -> NewKeyOut:
    """Make a key for the caller's tenant. The answer holds the key; it is never shown again."""
    new = await services.of(AdminService).create_key(principal, Scope(body.scope))
    return NewKeyOut.of_new(new, ids)


@router.delete("/keys/{key_id}", response_model=KeyOut, responses=problems(404))
async def revoke_key(
    key_id: PublicIdPath, principal: AdminScope, services: ServicesDep, ids: IdsDep
) -> KeyOut:
    """Revoke one of the tenant's keys; it stops working within the key cache's lifetime
    (5 s by default) on every server. Revoking it again answers the same."""
    missing = f"this tenant has no key with id {key_id}"
    row_id = row_of(ids.keys, key_id, missing)
    key = await services.of(AdminService).revoke_key(principal, row_id)
    if key is None:
        raise NotFound(missing)
    return KeyOut.of(key, ids)


@router.get("/tenants", response_model=TenantPage)
async def list_tenants(
    _operator: OperatorScope,
    services: ServicesDep,
    ids: IdsDep,
    limit: Limit = 100,
    cursor: CursorQuery = None,
) -> TenantPage:
    """Every tenant of the server (operator key only)."""
    after = after_cursor(ids.tenants, cursor)
    tenants = await services.of(AdminService).list_tenants(after=after, limit=limit)
    return TenantPage(
        items=[TenantOut.of(t, ids) for t in tenants],
        next_cursor=next_cursor(ids.tenants, [t.id for t in tenants], limit),
    )


@router.post("/tenants", status_code=201, response_model=NewTenantOut, responses=problems(409))
async def create_tenant(
    body: TenantIn, _operator: OperatorScope, services: ServicesDep, ids: IdsDep
) -> NewTenantOut:
    """Create a tenant with its first admin key (operator key only). The answer holds the
    key; it is never shown again."""
    return NewTenantOut.of_new(await services.of(AdminService).create_tenant(body.name), ids)
