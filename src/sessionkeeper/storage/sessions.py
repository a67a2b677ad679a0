"""SQL for sessions. Every lifecycle change is one conditional UPDATE on ``status = 'active'``.

These functions run inside a transaction they are given (usually the writer's group commit)
and return plain values; they never commit and never raise for an expected outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.session import NewSession, Session
from sessionkeeper.storage.dialect import insert_ignoring_conflicts
from sessionkeeper.storage.tables import sessions as t

ACTIVE = Status.ACTIVE.value
# Rows one sweep statement closes; keeps each transaction short under a large backlog.
SWEEP_CHUNK = 5000


def row_to_session(row: RowMapping) -> Session:
    return Session(
        tenant_id=row["tenant_id"],
        id=row["id"],
        user_id=row["user_id"],
        kind=row["kind"],
        label=row["label"],
        source=row["source"],
        attributes=row["attributes"] or {},
        status=Status(row["status"]),
        end_reason=EndReason(row["end_reason"]) if row["end_reason"] else None,
        estimated=bool(row["estimated"]),
        started_at=row["started_at"],
        last_seen_at=row["last_seen_at"],
        expires_at=row["expires_at"],
        ended_at=row["ended_at"],
        timeout_ms=row["timeout_ms"],
        grace_ms=row["grace_ms"],
        start_digest=row["start_digest"],
    )


SESSION_COLUMNS = [c for c in t.c if c.name != "seq"]


def session_key(tenant_id: int, session_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(t.c.tenant_id == tenant_id, t.c.id == session_id)


def get(conn: Connection, tenant_id: int, session_id: str) -> Session | None:
    row = (
        conn.execute(sa.select(*SESSION_COLUMNS).where(session_key(tenant_id, session_id)))
        .mappings()
        .first()
    )
    return None if row is None else row_to_session(row)


def _values(tenant_id: int, new: NewSession) -> dict[str, Any]:
    state = lifecycle.start(new.started_at, timeout_ms=new.timeout_ms, grace_ms=new.grace_ms)
    return {
        "tenant_id": tenant_id,
        "id": new.id,
        "user_id": new.user_id,
        "kind": new.kind,
        "label": new.label,
        "source": new.source,
        "attributes": dict(new.attributes),
        "status": ACTIVE,
        "end_reason": None,
        "estimated": False,
        "started_at": state.started_at,
        "last_seen_at": state.last_seen_at,
        "expires_at": state.expires_at,
        "ended_at": None,
        "timeout_ms": new.timeout_ms,
        "grace_ms": new.grace_ms,
        "start_digest": new.start_digest,
    }


def start(conn: Connection, tenant_id: int, new: NewSession, now: int) -> tuple[bool, Session]:
    """Insert the session unless its id exists; returns (created, the stored session).

    A start reported so long ago that the session expired before ``now`` is closed at once,
    as the sweep would close it.
    """
    stmt = insert_ignoring_conflicts(conn, t).values(**_values(tenant_id, new)).returning(t.c.seq)
    created = conn.execute(stmt).first() is not None
    if created and new.started_at + new.timeout_ms < now:
        close_overdue(conn, tenant_id, [new.id], now)
    stored = get(conn, tenant_id, new.id)
    assert stored is not None, "a session just inserted or found must be readable"
    return created, stored


def insert_many(conn: Connection, tenant_id: int, news: Sequence[NewSession]) -> None:
    """Insert sessions known not to exist (fresh server-made ids)."""
    if news:
        conn.execute(t.insert(), [_values(tenant_id, new) for new in news])


def timeout_end(now: int) -> sa.ColumnElement[Any]:
    """``min(last_seen_at + grace, expires_at, now)``, as ``lifecycle.estimated_end``."""
    estimate = sa.case(
        (t.c.last_seen_at + t.c.grace_ms < t.c.expires_at, t.c.last_seen_at + t.c.grace_ms),
        else_=t.c.expires_at,
    )
    return sa.case((estimate < now, estimate), else_=sa.literal(now, sa.BigInteger))


def timeout_values(now: int) -> dict[str, Any]:
    return {
        "status": Status.TIMED_OUT.value,
        "end_reason": EndReason.TIMEOUT.value,
        "estimated": True,
        "ended_at": timeout_end(now),
    }


def overdue_at(now: int) -> sa.ColumnElement[bool]:
    return sa.and_(t.c.status == ACTIVE, t.c.expires_at < now)


def close_overdue(conn: Connection, tenant_id: int, session_ids: Iterable[str], now: int) -> int:
    """Close, as the sweep would, those of the given sessions that are overdue at ``now``."""
    ids = list(session_ids)
    if not ids:
        return 0
    stmt = (
        t.update()
        .where(t.c.tenant_id == tenant_id, t.c.id.in_(ids), overdue_at(now))
        .values(**timeout_values(now))
    )
    return conn.execute(stmt).rowcount


@dataclass(frozen=True, slots=True)
class SweepChunk:
    closed_kinds: list[tuple[int, str]]  # (tenant_id, kind) of each closed session

    @property
    def count(self) -> int:
        return len(self.closed_kinds)


def sweep_chunk(conn: Connection, now: int, limit: int = SWEEP_CHUNK) -> SweepChunk:
    """Close up to ``limit`` overdue sessions, found through the active-expiry index."""
    # A materialised CTE is evaluated once: PostgreSQL may otherwise re-run a LIMIT subquery
    # inside an UPDATE and close more than ``limit`` rows in one statement.
    overdue = (
        sa.select(t.c.seq)
        .where(overdue_at(now))
        .order_by(t.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("overdue")
        .prefix_with("MATERIALIZED")
    )
    stmt = (
        t.update()
        .where(t.c.seq.in_(sa.select(overdue.c.seq)), overdue_at(now))
        .values(**timeout_values(now))
        .returning(t.c.tenant_id, t.c.kind)
    )
    return SweepChunk(closed_kinds=[(row[0], row[1]) for row in conn.execute(stmt)])


def end(
    conn: Connection,
    tenant_id: int,
    session_id: str,
    *,
    at: int,
    reason: EndReason,
) -> tuple[bool, Session | None]:
    """End an active session exactly at ``max(at, last_seen_at)``; a closed one is left as is.

    Returns (whether this call closed it, the session).
    """
    # An end made after the session had expired is a timeout, as in domain.lifecycle.end:
    # closing what was overdue at ``at`` gives it the estimated end the sweep would have.
    closed = close_overdue(conn, tenant_id, [session_id], at)
    closed += conn.execute(
        t.update()
        .where(session_key(tenant_id, session_id), t.c.status == ACTIVE, t.c.expires_at >= at)
        .values(
            status=lifecycle.STATUS_FOR_REASON[reason].value,
            end_reason=reason.value,
            estimated=False,
            ended_at=sa.case((t.c.last_seen_at > at, t.c.last_seen_at), else_=sa.literal(at)),
        )
    ).rowcount
    return closed > 0, get(conn, tenant_id, session_id)


def end_many(
    conn: Connection, tenant_id: int, session_ids: Sequence[str], *, at: int, reason: EndReason
) -> int:
    """End many active sessions exactly at ``max(at, last_seen_at)`` (presence lost)."""
    if not session_ids:
        return 0
    stmt = (
        t.update()
        .where(t.c.tenant_id == tenant_id, t.c.id.in_(session_ids), t.c.status == ACTIVE)
        .values(
            status=lifecycle.STATUS_FOR_REASON[reason].value,
            end_reason=reason.value,
            estimated=False,
            ended_at=sa.case((t.c.last_seen_at > at, t.c.last_seen_at), else_=sa.literal(at)),
        )
    )
    return conn.execute(stmt).rowcount


def apply_policy(
    conn: Connection,
    tenant_id: int,
    kinds: Sequence[str] | None,
    *,
    timeout_ms: int,
    grace_ms: int,
    exclude_kinds: Sequence[str] = (),
) -> int:
    """Give active sessions of these kinds (None: all but ``exclude_kinds``) a new policy.

    ``expires_at`` is left alone: the new timeout applies from the next heartbeat on.
    """
    conditions = [t.c.tenant_id == tenant_id, t.c.status == ACTIVE]
    if kinds is not None:
        conditions.append(t.c.kind.in_(kinds))
    if exclude_kinds:
        conditions.append(t.c.kind.not_in(exclude_kinds))
    stmt = t.update().where(*conditions).values(timeout_ms=timeout_ms, grace_ms=grace_ms)
    return conn.execute(stmt).rowcount
