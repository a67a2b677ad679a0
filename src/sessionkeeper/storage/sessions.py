"""SQL for sessions. Every lifecycle change is one conditional UPDATE on ``status = 'active'``.

These functions run inside a transaction they are given (usually the writer's group commit)
and return plain values; they never commit and never raise for an expected outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.session import NewSession, Session
from sessionkeeper.storage.dialect import insert_ignoring_conflicts
from sessionkeeper.storage.tables import sessions as t

ACTIVE = Status.ACTIVE.value
HeartbeatOutcome = Literal["ok", "closed", "not_found"]
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


_COLUMNS = [c for c in t.c if c.name != "seq"]


def _key(tenant_id: int, session_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(t.c.tenant_id == tenant_id, t.c.id == session_id)


def get(conn: Connection, tenant_id: int, session_id: str) -> Session | None:
    row = conn.execute(sa.select(*_COLUMNS).where(_key(tenant_id, session_id))).mappings().first()
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


def start(conn: Connection, tenant_id: int, new: NewSession) -> tuple[bool, Session]:
    """Insert the session unless its id exists; returns (created, the stored session)."""
    stmt = insert_ignoring_conflicts(conn, t).values(**_values(tenant_id, new)).returning(t.c.seq)
    created = conn.execute(stmt).first() is not None
    stored = get(conn, tenant_id, new.id)
    assert stored is not None, "a session just inserted or found must be readable"
    return created, stored


def insert_many(conn: Connection, tenant_id: int, news: Sequence[NewSession]) -> None:
    """Insert sessions known not to exist (fresh server-made ids)."""
    if news:
        conn.execute(t.insert(), [_values(tenant_id, new) for new in news])


def _timeout_end(now: int) -> sa.ColumnElement[Any]:
    estimate = t.c.last_seen_at + t.c.grace_ms
    return sa.case((estimate < now, estimate), else_=sa.literal(now, sa.BigInteger))


def _timeout_values(now: int) -> dict[str, Any]:
    return {
        "status": Status.TIMED_OUT.value,
        "end_reason": EndReason.TIMEOUT.value,
        "estimated": True,
        "ended_at": _timeout_end(now),
    }


def _overdue(now: int) -> sa.ColumnElement[bool]:
    return sa.and_(t.c.status == ACTIVE, t.c.expires_at < now)


def close_overdue(conn: Connection, tenant_id: int, session_ids: Iterable[str], now: int) -> int:
    """Close, as the sweep would, those of the given sessions that are overdue at ``now``."""
    ids = list(session_ids)
    if not ids:
        return 0
    stmt = (
        t.update()
        .where(t.c.tenant_id == tenant_id, t.c.id.in_(ids), _overdue(now))
        .values(**_timeout_values(now))
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
        .where(_overdue(now))
        .order_by(t.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("overdue")
        .prefix_with("MATERIALIZED")
    )
    stmt = (
        t.update()
        .where(t.c.seq.in_(sa.select(overdue.c.seq)), _overdue(now))
        .values(**_timeout_values(now))
        .returning(t.c.tenant_id, t.c.kind)
    )
    return SweepChunk(closed_kinds=[(row[0], row[1]) for row in conn.execute(stmt)])


def _heartbeat_statement(*, with_attributes: bool, returning: bool = True) -> sa.Update:
    # Built once: constructing an UPDATE … RETURNING of every column per request cost more
    # than running it.
    at = sa.bindparam("h_at", type_=sa.BigInteger)
    values: dict[str, Any] = {"last_seen_at": at, "expires_at": at + t.c.timeout_ms}
    if with_attributes:
        values["attributes"] = sa.bindparam("h_attributes", type_=sa.JSON)
    stmt = (
        t.update()
        .where(
            t.c.tenant_id == sa.bindparam("h_tenant"),
            t.c.id == sa.bindparam("h_id"),
            t.c.status == ACTIVE,
            t.c.last_seen_at < at,
            t.c.expires_at >= at,
        )
        .values(**values)
    )
    return stmt.returning(*_COLUMNS) if returning else stmt


_HEARTBEAT = _heartbeat_statement(with_attributes=False)
# executemany cannot return rows: the combined path reads them back in one SELECT.
_HEARTBEAT_MANY = _heartbeat_statement(with_attributes=False, returning=False)
_HEARTBEAT_WITH_ATTRIBUTES = _heartbeat_statement(with_attributes=True)


def heartbeat(
    conn: Connection,
    tenant_id: int,
    session_id: str,
    *,
    at: int,
    now: int,
    attributes: Mapping[str, Any] | None = None,
) -> tuple[HeartbeatOutcome, Session | None]:
    """Move ``last_seen_at`` to ``at`` if later and the session was alive then."""
    params: dict[str, Any] = {"h_tenant": tenant_id, "h_id": session_id, "h_at": at}
    statement = _HEARTBEAT
    if attributes:
        current = conn.execute(
            sa.select(t.c.attributes).where(_key(tenant_id, session_id)).with_for_update()
        ).scalar_one_or_none()
        params["h_attributes"] = {**(current or {}), **attributes}
        statement = _HEARTBEAT_WITH_ATTRIBUTES
    moved = conn.execute(statement, params).mappings().first()
    if moved is not None and moved["expires_at"] >= now:
        return "ok", row_to_session(moved)
    # Slow path: nothing moved, or the beat came too late to keep the session open.
    close_overdue(conn, tenant_id, [session_id], now)
    session = get(conn, tenant_id, session_id)
    if session is None:
        return "not_found", None
    return ("ok" if session.status is Status.ACTIVE else "closed"), session


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A single heartbeat as a writer op; neighbouring ones are applied together."""

    combine_key: ClassVar[str] = "heartbeat"
    tenant_id: int
    session_id: str
    at: int
    now: int

    def __call__(self, conn: Connection) -> tuple[HeartbeatOutcome, Session | None]:
        return heartbeat(conn, self.tenant_id, self.session_id, at=self.at, now=self.now)

    @classmethod
    def run_many(
        cls, conn: Connection, ops: list[Heartbeat]
    ) -> list[tuple[HeartbeatOutcome, Session | None]]:
        """One executemany for all, then one read per tenant; same outcomes as one by one."""
        conn.execute(
            _HEARTBEAT_MANY,
            [{"h_tenant": op.tenant_id, "h_id": op.session_id, "h_at": op.at} for op in ops],
        )
        by_tenant: dict[int, list[Heartbeat]] = {}
        for op in ops:
            by_tenant.setdefault(op.tenant_id, []).append(op)
        found: dict[tuple[int, str], Session] = {}
        for tenant_id, tenant_ops in by_tenant.items():
            ids = list({op.session_id for op in tenant_ops})
            rows = conn.execute(
                sa.select(*_COLUMNS).where(t.c.tenant_id == tenant_id, t.c.id.in_(ids))
            ).mappings()
            for row in rows:
                found[(tenant_id, row["id"])] = row_to_session(row)
            # A beat that came too late to keep its session open closes it, as alone.
            overdue = {
                op.session_id: op.now
                for op in tenant_ops
                if (s := found.get((tenant_id, op.session_id))) is not None
                and s.status is Status.ACTIVE
                and s.expires_at < op.now
            }
            for session_id, now in overdue.items():
                close_overdue(conn, tenant_id, [session_id], now)
                closed = get(conn, tenant_id, session_id)
                if closed is not None:
                    found[(tenant_id, session_id)] = closed
        results: list[tuple[HeartbeatOutcome, Session | None]] = []
        for op in ops:
            session = found.get((op.tenant_id, op.session_id))
            if session is None:
                results.append(("not_found", None))
            else:
                results.append(("ok" if session.status is Status.ACTIVE else "closed", session))
        return results


def heartbeat_many(
    conn: Connection, tenant_id: int, beats: Sequence[tuple[str, int]], now: int
) -> list[HeartbeatOutcome]:
    """Apply many heartbeats in one executemany; one outcome per beat, in order."""
    if not beats:
        return []
    stmt = (
        t.update()
        .where(
            t.c.tenant_id == tenant_id,
            t.c.id == sa.bindparam("b_id"),
            t.c.status == ACTIVE,
            t.c.last_seen_at < sa.bindparam("b_at"),
            t.c.expires_at >= sa.bindparam("b_at"),
        )
        .values(
            last_seen_at=sa.bindparam("b_at"),
            expires_at=sa.bindparam("b_at") + t.c.timeout_ms,
        )
    )
    conn.execute(stmt, [{"b_id": sid, "b_at": at} for sid, at in beats])
    ids = list({sid for sid, _ in beats})
    rows = conn.execute(
        sa.select(t.c.id, t.c.status, t.c.expires_at).where(
            t.c.tenant_id == tenant_id, t.c.id.in_(ids)
        )
    ).all()
    statuses = {sid: status for sid, status, _ in rows}
    # Sessions that beat too late to stay open close here, as the sweep would close them.
    overdue = [sid for sid, status, expires in rows if status == ACTIVE and expires < now]
    if overdue:
        close_overdue(conn, tenant_id, overdue, now)
        statuses.update(dict.fromkeys(overdue, Status.TIMED_OUT.value))
    return [
        "not_found" if sid not in statuses else "ok" if statuses[sid] == ACTIVE else "closed"
        for sid, _ in beats
    ]


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
        .where(_key(tenant_id, session_id), t.c.status == ACTIVE, t.c.expires_at >= at)
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


def refresh_source(conn: Connection, tenant_id: int, source: str, at: int) -> int:
    """Heartbeat every open session of a source at ``at``: one statement, no id list."""
    stmt = (
        t.update()
        .where(
            t.c.tenant_id == tenant_id,
            t.c.source == source,
            t.c.status == ACTIVE,
            t.c.last_seen_at < at,
            t.c.expires_at >= at,
        )
        .values(last_seen_at=at, expires_at=at + t.c.timeout_ms)
    )
    return conn.execute(stmt).rowcount


def refresh_many(conn: Connection, tenant_id: int, session_ids: Sequence[str], at: int) -> int:
    """Heartbeat many sessions at the same time ``at`` (a presence snapshot)."""
    if not session_ids:
        return 0
    stmt = (
        t.update()
        .where(
            t.c.tenant_id == tenant_id,
            t.c.id.in_(session_ids),
            t.c.status == ACTIVE,
            t.c.last_seen_at < at,
            t.c.expires_at >= at,
        )
        .values(last_seen_at=at, expires_at=at + t.c.timeout_ms)
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
