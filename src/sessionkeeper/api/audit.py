"""The audit log of the caller's tenant: who did what by hand, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from sessionkeeper.api.deps import AdminScope, ServicesDep
from sessionkeeper.api.routing import api_router
from sessionkeeper.domain.public_ids import MAX_PUBLIC_ID
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
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        """An entry as ``AuditLog.page`` shows it (public ids)."""
        return cls(
            id=entry.id,
            at=from_ms(entry.at),
            actor=entry.actor,
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
    action: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_PUBLIC_ID, description="Entries older than this id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> AuditPage:
    """The tenant's audit log, newest first."""
    page = await services.audit.page(principal, limit=limit, before=before, action=action)
    return AuditPage(
        items=[AuditEntryOut.of(e) for e in page.entries], next_before=page.next_before
    )
