"""SQL for heartbeats: single, combined, batched, and the refresh of presence sources.

Each is the one conditional UPDATE of the lifecycle rules: ``last_seen_at`` moves to ``at``
only when later, and only while the session was alive at ``at``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.session import Session
from sessionkeeper.storage.sessions import (
    ACTIVE,
    SESSION_COLUMNS,
    close_overdue,
    get,
    row_to_session,
    session_key,
)
from sessionkeeper.storage.tables import sessions as t

HeartbeatOutcome = Literal["ok", "closed", "not_found"]


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
    return stmt.returning(*SESSION_COLUMNS) if returning else stmt


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
            sa.select(t.c.attributes).where(session_key(tenant_id, session_id)).with_for_update()
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
            # Sorted: processes writing the same rows in one order cannot deadlock each other.
            sorted(
                ({"h_tenant": op.tenant_id, "h_id": op.session_id, "h_at": op.at} for op in ops),
                key=lambda p: (p["h_tenant"], p["h_id"]),
            ),
        )
        by_tenant: dict[int, list[Heartbeat]] = {}
        for op in ops:
            by_tenant.setdefault(op.tenant_id, []).append(op)
        found: dict[tuple[int, str], Session] = {}
        for tenant_id, tenant_ops in by_tenant.items():
            ids = list({op.session_id for op in tenant_ops})
            rows = conn.execute(
                sa.select(*SESSION_COLUMNS).where(t.c.tenant_id == tenant_id, t.c.id.in_(ids))
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
    # Sorted: processes writing the same rows in one order cannot deadlock each other.
    conn.execute(stmt, [{"b_id": sid, "b_at": at} for sid, at in sorted(beats)])
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
