"""SQL of outcomes, metric definitions and the tenant's end-user settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.learning.rules import MetricDefinition
from sessionkeeper.learning.tables import metric_definitions as d
from sessionkeeper.learning.tables import session_outcomes as o
from sessionkeeper.learning.tables import user_settings as u
from sessionkeeper.rooms.tables import rooms
from sessionkeeper.storage.dialect import upsert
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.sessions import SESSION_COLUMNS, row_to_session
from sessionkeeper.storage.tables import sessions as s
from sessionkeeper.storage.tables import tenants


@dataclass(frozen=True, slots=True)
class Outcome:
    metrics: dict[str, float] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    tags: dict[str, list[str]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    updated_at: int | None = None


def _outcome(row: Any) -> Outcome:
    return Outcome(
        metrics=dict(row.metrics),
        counters=dict(row.counters),
        tags={name: list(items) for name, items in row.tags.items()},
        metadata=dict(row.metadata),
        updated_at=row.updated_at,
    )


def put_outcome(
    conn: Connection, tenant_id: int, session: Session, outcome: Outcome, now: int
) -> Outcome:
    values = {
        "tenant_id": tenant_id,
        "session_id": session.id,
        "user_id": session.user_id,
        "metrics": outcome.metrics,
        "counters": outcome.counters,
        "tags": outcome.tags,
        "metadata": outcome.metadata,
        "updated_at": now,
    }
    conn.execute(upsert(conn, o, values, keys=["tenant_id", "session_id"]))
    return Outcome(outcome.metrics, outcome.counters, outcome.tags, outcome.metadata, now)


def outcomes_of(
    conn: Connection, principal: Principal, session_ids: Sequence[str]
) -> dict[str, Outcome]:
    if not session_ids:
        return {}
    rows = conn.execute(
        sa.select(o).where(visible_to(o, principal), o.c.session_id.in_(list(session_ids)))
    )
    return {row.session_id: _outcome(row) for row in rows}


def user_sessions(
    conn: Connection,
    principal: Principal,
    user_id: str,
    *,
    started_after: int | None = None,
    started_before: int | None = None,
) -> list[tuple[Session, Outcome | None]]:
    """A user's sessions (oldest first) with their outcomes, started in the given window.

    Rooms are left out: a room's row names who created it and lasts as long as the room;
    the user's time in a room is their attendance, which is a session of its own.
    """
    stmt = (
        sa.select(*SESSION_COLUMNS, o.c.metrics, o.c.counters, o.c.tags, o.c.metadata)
        .add_columns(o.c.updated_at.label("outcome_updated_at"))
        .select_from(
            s.outerjoin(o, sa.and_(o.c.tenant_id == s.c.tenant_id, o.c.session_id == s.c.id))
        )
        .where(
            visible_to(s, principal),
            s.c.user_id == user_id,
            ~sa.exists().where(rooms.c.tenant_id == s.c.tenant_id, rooms.c.id == s.c.id),
        )
        .order_by(s.c.started_at, s.c.id)
    )
    if started_after is not None:
        stmt = stmt.where(s.c.started_at >= started_after)
    if started_before is not None:
        stmt = stmt.where(s.c.started_at < started_before)
    found = []
    for row in conn.execute(stmt).mappings():
        outcome = None
        if row["outcome_updated_at"] is not None:
            outcome = Outcome(
                metrics=dict(row["metrics"]),
                counters=dict(row["counters"]),
                tags={name: list(items) for name, items in row["tags"].items()},
                metadata=dict(row["metadata"]),
                updated_at=row["outcome_updated_at"],
            )
        found.append((row_to_session(row), outcome))
    return found


# Metric definitions.


def definitions(conn: Connection, tenant_id: int) -> dict[str, MetricDefinition]:
    rows = conn.execute(sa.select(d).where(d.c.tenant_id == tenant_id).order_by(d.c.name))
    return {
        r.name: MetricDefinition(r.name, r.min, r.max, r.unit, r.higher_is_better) for r in rows
    }


def put_definition(conn: Connection, tenant_id: int, found: MetricDefinition, now: int) -> None:
    values = {
        "tenant_id": tenant_id,
        "name": found.name,
        "min": found.min,
        "max": found.max,
        "unit": found.unit,
        "higher_is_better": found.higher_is_better,
        "updated_at": now,
    }
    conn.execute(upsert(conn, d, values, keys=["tenant_id", "name"]))


def delete_definition(conn: Connection, tenant_id: int, name: str) -> bool:
    deleted = conn.execute(sa.delete(d).where(d.c.tenant_id == tenant_id, d.c.name == name))
    return bool(deleted.rowcount)


# Settings.


@dataclass(frozen=True, slots=True)
class UserSettings:
    auth: dict[str, Any] | None = None
    recap: dict[str, Any] | None = None
    updated_at: int | None = None


def settings(conn: Connection, tenant_id: int) -> UserSettings:
    row = conn.execute(sa.select(u).where(u.c.tenant_id == tenant_id)).first()
    if row is None:
        return UserSettings()
    return UserSettings(auth=row.auth, recap=row.recap, updated_at=row.updated_at)


def put_settings(
    conn: Connection, tenant_id: int, part: str, value: dict[str, Any] | None, now: int
) -> None:
    """Set one part (``auth`` or ``recap``) of the tenant's settings, keeping the other."""
    current = settings(conn, tenant_id)
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "auth": current.auth,
        "recap": current.recap,
        "updated_at": now,
    }
    values[part] = value
    values["issuer"] = None if values["auth"] is None else values["auth"]["issuer"]
    conn.execute(upsert(conn, u, values, keys=["tenant_id"]))


@dataclass(frozen=True, slots=True)
class TenantAuth:
    tenant_id: int
    tenant_name: str
    auth: dict[str, Any]


def tenant_auth(
    conn: Connection, *, tenant_name: str | None = None, issuer: str | None = None
) -> list[TenantAuth]:
    """The end-user token settings of the tenant named ``tenant_name``, or of every tenant
    that expects tokens of ``issuer``."""
    stmt = (
        sa.select(tenants.c.id, tenants.c.name, u.c.auth)
        .select_from(tenants.join(u, u.c.tenant_id == tenants.c.id))
        .where(u.c.auth.is_not(None))
        .limit(2)
    )
    if tenant_name is not None:
        stmt = stmt.where(tenants.c.name == tenant_name)
    if issuer is not None:
        stmt = stmt.where(u.c.issuer == issuer)
    return [TenantAuth(r.id, r.name, r.auth) for r in conn.execute(stmt) if r.auth]


def auth_by_url(conn: Connection) -> list[tuple[int, dict[str, Any]]]:
    """(tenant id, token settings) of every tenant whose JWKS comes from a URL."""
    rows = conn.execute(sa.select(u.c.tenant_id, u.c.auth).where(u.c.issuer.is_not(None)))
    return [(r.tenant_id, r.auth) for r in rows if r.auth and r.auth.get("jwks_url")]


def refresh_auth(conn: Connection, tenant_id: int, auth: dict[str, Any], now: int) -> None:
    """Replace the token settings by a refreshed copy, unless the tenant changed its URL
    (or dropped it) while the document was being fetched."""
    current = settings(conn, tenant_id).auth
    if current and current.get("jwks_url") == auth["jwks_url"]:
        put_settings(conn, tenant_id, "auth", auth, now)
