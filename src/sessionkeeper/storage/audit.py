"""SQL for the audit log: who did what, when, to which target.

Actions that change the record by hand (an admin ending a session, running the sweep or the
cleanup, revoking a link or an invitation) and actions on a person's data (an erase, an
export) are written here, in the same transaction as the action itself where there is one, so
the log never claims what did not happen nor misses what did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.tables import audit_log as t


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    tenant_id: int
    at: int
    actor: str
    action: str
    target: str | None
    details: Mapping[str, Any]


def record(
    conn: Connection,
    principal: Principal,
    action: str,
    *,
    at: int,
    target: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        t.insert().values(
            tenant_id=principal.tenant_id,
            at=at,
            actor=principal.actor,
            action=action,
            target=target,
            details=dict(details or {}),
        )
    )


def entries(
    conn: Connection,
    principal: Principal,
    *,
    limit: int,
    before_id: int | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """The principal's tenant's entries, newest first; ``before_id`` pages on."""
    conditions = [visible_to(t, principal)]
    if before_id is not None:
        conditions.append(t.c.id < before_id)
    if action is not None:
        conditions.append(t.c.action == action)
    rows = conn.execute(sa.select(t).where(*conditions).order_by(t.c.id.desc()).limit(limit))
    return [
        AuditEntry(
            id=row.id,
            tenant_id=row.tenant_id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            target=row.target,
            details=row.details or {},
        )
        for row in rows
    ]
