"""The audit log of the caller's tenant: who did what by hand, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from sessionkeeper.api.deps import AdminScope, ServicesDep
from sessionkeeper.api.public_ids import IdsDep
from sessionkeeper.api.routing import api_router
from sessionkeeper.domain.principal import shown_actor
from sessionkeeper.domain.public_ids import MAX_PUBLIC_ID, PublicIds
from sessionkeeper.domain.times import from_ms
from sessionkeeper.storage.audit import AuditEntry

router = api_router(prefix="/v1", tags=["audit"])

MAX_PAGE = 500


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="Who: the credential, e.g. api_key:<the key's id> or operator")
    action: str = Field(description="What, e.g. session.end, sweep.run, invite.revoke")
    target: str | None = Field(description="To what: a session, room, link or user id")
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry, ids: PublicIds) -> AuditEntryOut:
        return cls(
            id=ids.audit.public(entry.id),
            at=from_ms(entry.at),
            actor=shown_actor(entry.actor, ids),
            action=entry.action,
            target=entry.target,
            details=dict(entry.details),
        )


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_before: int | None = Field(description="Pass as ?before= for the next page")


@router.get("/audit", response_model=AuditPage)
async def list_audit(
    principal: AdminScope,
    services: ServicesDep,
    ids: IdsDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_PUBLIC_ID, description="Entries older than this id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> AuditPage:
    """The tenant's audit log, newest first."""
    before_id = None if before is None else ids.audit.row(before)
    found = await services.audit.entries(
        principal, limit=limit + 1, before_id=before_id, action=action
    )
    page = found[:limit]
    more = len(found) > limit
    return AuditPage(
        items=[AuditEntryOut.of(e, ids) for e in page],
        next_before=ids.audit.public(page[-1].id) if more else None,
    )
