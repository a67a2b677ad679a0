"""SQL for heartbeats: single, combined, batched, and the refresh of presence sources.

Each is the one conditional UPDATE of the lifecycle rules (``heartbeat_condition`` and
``heartbeat_values``): ``last_seen_at`` moves to ``at`` only when later, and only while the
session was alive at ``at``. A beat that arrived too late to keep its session open closes it
(``_settle``), as the sweep would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessionkeeper.domain.events import HeartbeatsApplied
from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.sessions import (
    ACTIVE,
    SESSION_COLUMNS,
    close_overdue,
    row_to_session,
    session_key,
)
from sessionkeeper.storage.tables import sessions as t
from sessionkeeper.storage.transaction import Transaction

HeartbeatOutcome = Literal["ok", "closed", "not_found"]
Moment = int | sa.BindParameter[int]


def heartbeat_condition(at: Moment) -> sa.ColumnElement[bool]:
    """Active, ``at`` later than the last beat, and the session still alive at ``at``."""
    return sa.and_(t.c.status == ACTIVE, t.c.last_seen_at < at, t.c.expires_at >= at)


def heartbeat_values(at: Moment) -> dict[str, Any]:
    return {"last_seen_at": at, "expires_at": at + t.c.timeout_ms}


def _outcome(session: Session | None) -> HeartbeatOutcome:
    if session is None:
        return "not_found"
    return "ok" if session.status is Status.ACTIVE else "closed"


def _applied(tenant_id: int, outcomes: Iterable[HeartbeatOutcome]) -> HeartbeatsApplied:
    counted = list(outcomes)
    return HeartbeatsApplied(
        tenant_id=tenant_id,
        ok=counted.count("ok"),
        closed=counted.count("closed"),
        not_found=counted.count("not_found"),
    )


def _settle(tx: Transaction, principal: Principal, nows: Mapping[str, int]) -> dict[str, Session]:
    """The sessions after their beats, by id, each judged at its own request's ``now``: those
    the beats came too late to keep open are closed first, exactly as the sweep would."""
    query = sa.select(*SESSION_COLUMNS).where(visible_to(t, principal), t.c.id.in_(list(nows)))
    found = {row["id"]: row_to_session(row) for row in tx.conn.execute(query).mappings()}
    overdue: dict[int, list[str]] = {}
    for s in found.values():
        if s.status is Status.ACTIVE and s.expires_at < nows[s.id]:
            overdue.setdefault(nows[s.id], []).append(s.id)
    closed = [
        sid for now, ids in overdue.items() if close_overdue(tx, principal, ids, now) for sid in ids
    ]
    if closed:
        reread = query.where(t.c.id.in_(closed))
        found.update({r["id"]: row_to_session(r) for r in tx.conn.execute(reread).mappings()})
    return found


def _latest_nows(ops: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Per session, the ``now`` of its latest request."""
    nows: dict[str, int] = {}
    for session_id, now in ops:
        nows[session_id] = max(now, nows.get(session_id, now))
    return nows


_HEARTBEAT_WHERE = sa.and_(
    t.c.tenant_id == sa.bindparam("h_tenant"),
    t.c.id == sa.bindparam("h_id"),
    heartbeat_condition(sa.bindparam("h_at", type_=sa.BigInteger)),
)
# Built once: constructing an UPDATE … RETURNING of every column per request cost more than
# running it. executemany cannot return rows: the combined path reads them in one SELECT.
_HEARTBEAT_MANY = (
    t.update()
    .where(_HEARTBEAT_WHERE)
    .values(**heartbeat_values(sa.bindparam("h_at", type_=sa.BigInteger)))
)


def heartbeat(
    tx: Transaction,
    principal: Principal,
    session_id: str,
    *,
    at: int,
    now: int,
    attributes: Mapping[str, Any] | None = None,
) -> tuple[HeartbeatOutcome, Session | None]:
    """Move ``last_seen_at`` to ``at`` if later and the session was alive then."""
    values = heartbeat_values(at)
    if attributes:
        current = tx.conn.execute(
            sa.select(t.c.attributes).where(session_key(principal, session_id)).with_for_update()
        ).scalar_one_or_none()
        values["attributes"] = {**(current or {}), **attributes}
    moved = (
        tx.conn.execute(
            t.update()
            .where(session_key(principal, session_id), heartbeat_condition(at))
            .values(**values)
            .returning(*SESSION_COLUMNS)
        )
        .mappings()
        .first()
    )
    if moved is not None and moved["expires_at"] >= now:
        session: Session | None = row_to_session(moved)
    else:  # nothing moved, or the beat came too late to keep the session open
        session = _settle(tx, principal, {session_id: now}).get(session_id)
    outcome = _outcome(session)
    tx.record(_applied(principal.tenant_id, [outcome]))
    return outcome, session


@dataclass(frozen=True, slots=True)
class HeartbeatOp:
    """A single heartbeat as a writer op; neighbouring ones are applied together.

    Only for principals that see their whole tenant: the combined ``executemany`` binds the
    tenant alone (see :func:`heartbeat_op`).
    """

    combine_key: ClassVar[str] = "heartbeat"
    principal: Principal
    session_id: str
    at: int
    now: int

    def __call__(self, tx: Transaction) -> tuple[HeartbeatOutcome, Session | None]:
        return heartbeat(tx, self.principal, self.session_id, at=self.at, now=self.now)

    @classmethod
    def run_combined(
        cls, tx: Transaction, ops: list[HeartbeatOp]
    ) -> list[tuple[HeartbeatOutcome, Session | None]]:
        """One executemany for all, then one read per tenant; same outcomes as one by one."""
        tx.conn.execute(
            _HEARTBEAT_MANY,
            # Sorted: processes writing the same rows in one order cannot deadlock each other.
            sorted(
                (
                    {"h_tenant": op.principal.tenant_id, "h_id": op.session_id, "h_at": op.at}
                    for op in ops
                ),
                key=lambda p: (p["h_tenant"], p["h_id"]),
            ),
        )
        by_tenant: dict[int, list[HeartbeatOp]] = {}
        for op in ops:
            by_tenant.setdefault(op.principal.tenant_id, []).append(op)
        found: dict[tuple[int, str], Session] = {}
        for tenant_id, tenant_ops in by_tenant.items():
            nows = _latest_nows((op.session_id, op.now) for op in tenant_ops)
            settled = _settle(tx, tenant_ops[0].principal, nows)
            found.update({(tenant_id, sid): s for sid, s in settled.items()})
            tx.record(
                _applied(tenant_id, (_outcome(settled.get(op.session_id)) for op in tenant_ops))
            )
        return [
            (_outcome(session), session)
            for session in (found.get((op.principal.tenant_id, op.session_id)) for op in ops)
        ]


def heartbeat_op(
    principal: Principal, session_id: str, *, at: int, now: int
) -> HeartbeatOp | partial[tuple[HeartbeatOutcome, Session | None]]:
    """The writer op for one heartbeat: combinable when the principal sees its whole tenant."""
    if principal.user_id is None:
        return HeartbeatOp(principal, session_id, at=at, now=now)
    return partial(heartbeat, principal=principal, session_id=session_id, at=at, now=now)


def heartbeat_batch(
    tx: Transaction, principal: Principal, beats: Sequence[tuple[str, int]], now: int
) -> list[HeartbeatOutcome]:
    """Apply many heartbeats in one executemany; one outcome per beat, in order."""
    if not beats:
        return []
    at = sa.bindparam("b_at", type_=sa.BigInteger)
    stmt = (
        t.update()
        .where(visible_to(t, principal), t.c.id == sa.bindparam("b_id"), heartbeat_condition(at))
        .values(**heartbeat_values(at))
    )
    # Sorted: processes writing the same rows in one order cannot deadlock each other.
    tx.conn.execute(stmt, [{"b_id": sid, "b_at": at} for sid, at in sorted(beats)])
    settled = _settle(tx, principal, dict.fromkeys((sid for sid, _ in beats), now))
    outcomes = [_outcome(settled.get(sid)) for sid, _ in beats]
    tx.record(_applied(principal.tenant_id, outcomes))
    return outcomes


def refresh_source(conn: Connection, principal: Principal, source: str, at: int) -> int:
    """Heartbeat every open session of a source at ``at``: one statement, no id list."""
    stmt = (
        t.update()
        .where(visible_to(t, principal), t.c.source == source, heartbeat_condition(at))
        .values(**heartbeat_values(at))
    )
    return conn.execute(stmt).rowcount


def refresh_many(
    conn: Connection, principal: Principal, session_ids: Sequence[str], at: int
) -> int:
    """Heartbeat many sessions at the same time ``at`` (a presence snapshot)."""
    if not session_ids:
        return 0
    stmt = (
        t.update()
        .where(visible_to(t, principal), t.c.id.in_(session_ids), heartbeat_condition(at))
        .values(**heartbeat_values(at))
    )
    return conn.execute(stmt).rowcount
