"""SQL for sessions. Every lifecycle change is one conditional UPDATE on ``status = 'active'``.

These functions run inside a transaction they are given (usually the writer's group commit)
and return plain values; they never commit and never raise for an expected outcome. Each
lifecycle rule of ``domain/lifecycle.py`` is spelled here once, as a named condition or set
of values, and every statement that applies the rule uses that name.

Every close and start records its change event on the transaction (from ``RETURNING``, so
only rows that really changed are reported).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.events import SessionAmended, SessionEnded
from sessionkeeper.domain.lifecycle import EndReason, Lifecycle, Status
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import NewSession, Session
from sessionkeeper.storage.dialect import among, greatest, insert_ignoring_conflicts, least
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.session_inserts import STORED_COLUMNS, row_of, started
from sessionkeeper.storage.source_beats import (
    EXPIRES_AT,
    LAST_SEEN_AT,
    not_overdue_at,
    read_column,
    written_through,
)
from sessionkeeper.storage.statuses import IS_ACTIVE
from sessionkeeper.storage.tables import sessions as t
from sessionkeeper.storage.transaction import Transaction

ACTIVE = Status.ACTIVE.value
# Rows one sweep statement closes; keeps each transaction short under a large backlog.


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
        continues=row["continues"],
        amended_count=row["amended_count"],
        amended_at=row["amended_at"],
        held_until=row["held_until"],
        interval_ms=row["heartbeat_interval_ms"],
        subject=row["subject"] or {},
    )


# The columns as the rules read them, a source's beat included: what every read selects.
SESSION_COLUMNS = [
    c if read_column(c.name) is c else read_column(c.name).label(c.name) for c in STORED_COLUMNS
]
# What a SessionEnded event needs of a closed row.
_ENDED_COLUMNS = (
    t.c.tenant_id,
    t.c.id,
    t.c.user_id,
    t.c.kind,
    t.c.status,
    t.c.end_reason,
    t.c.started_at,
    t.c.ended_at,
    t.c.estimated,
    t.c.room_id,
)


def session_key(principal: Principal, session_id: str) -> sa.ColumnElement[bool]:
    """The one session of that id, if the principal may see it."""
    return sa.and_(visible_to(t, principal), t.c.id == session_id)


def get(conn: Connection, principal: Principal, session_id: str) -> Session | None:
    row = (
        conn.execute(sa.select(*SESSION_COLUMNS).where(session_key(principal, session_id)))
        .mappings()
        .first()
    )
    return None if row is None else row_to_session(row)


# The rules, each spelled once.


def overdue_at(now: int) -> sa.ColumnElement[bool]:
    """Active, and silent past ``expires_at`` at ``now`` (``lifecycle.is_overdue``).

    ``sweep_at <= expires_at`` always holds, so the first condition (the indexed one) finds
    every overdue row; the exact deadline then decides."""
    return sa.and_(IS_ACTIVE, t.c.sweep_at < now, now > EXPIRES_AT)


def timeout_end(now: int) -> sa.ColumnElement[Any]:
    """``min(last_seen_at + grace, expires_at, now)``, as ``lifecycle.estimated_end``."""
    return least(LAST_SEEN_AT + t.c.grace_ms, EXPIRES_AT, sa.literal(now, sa.BigInteger))


def timeout_values(now: int) -> dict[str, Any]:
    """A close by timeout at the estimated end (``lifecycle.sweep``)."""
    return {
        **written_through(),
        "status": Status.TIMED_OUT.value,
        "end_reason": EndReason.TIMEOUT.value,
        "estimated": True,
        "ended_at": timeout_end(now),
    }


def duration_bounds(state: Mapping[str, sa.ColumnElement[Any]]) -> tuple[Any, Any]:
    """``(low, high)`` of the duration in SQL, as ``lifecycle.duration_bounds``: NULL while
    open, equal for an exact end, from the last heartbeat to when the next was due for an
    estimated one, between the two snapshots around the end for lost presence. ``state``
    holds the closing columns as read (``ended_at``, ``end_reason``, ``estimated``), so an
    overdue session read as it will be closed is bounded the same way."""
    ended, reason, estimated = state["ended_at"], state["end_reason"], state["estimated"]
    seen = LAST_SEEN_AT - t.c.started_at
    exact = ended - t.c.started_at
    due = least(LAST_SEEN_AT + t.c.heartbeat_interval_ms, EXPIRES_AT)
    lost = reason == EndReason.PRESENCE_LOST.value
    estimated_true = estimated == sa.true()
    low = sa.case((ended.is_(None), None), (sa.or_(lost, estimated_true), seen), else_=exact)
    high = sa.case(
        (ended.is_(None), None),
        (lost, exact),
        # Never before the estimated end itself (a session closed under an older policy).
        (estimated_true, greatest(due, LAST_SEEN_AT, ended) - t.c.started_at),
        else_=exact,
    )
    return low, high


def alive_at(at: int) -> sa.ColumnElement[bool]:
    """Active and not yet expired at ``at``: an end made then is exact."""
    return sa.and_(IS_ACTIVE, at <= EXPIRES_AT)


def exact_end_values(at: int, reason: EndReason) -> dict[str, Any]:
    """An exact end at ``max(at, last_seen_at)`` (``lifecycle.end``)."""
    return {
        **written_through(),
        "status": lifecycle.STATUS_FOR_REASON[reason].value,
        "end_reason": reason.value,
        "estimated": False,
        "ended_at": greatest(LAST_SEEN_AT, sa.literal(at, sa.BigInteger)),
    }


def _close(tx: Transaction, stmt: sa.Update) -> list[SessionEnded]:
    """Run a closing UPDATE and record a SessionEnded for each row it closed."""
    ended = [
        SessionEnded(
            tenant_id=row.tenant_id,
            session_id=row.id,
            user_id=row.user_id,
            kind=row.kind,
            status=Status(row.status),
            reason=EndReason(row.end_reason),
            started_at=row.started_at,
            ended_at=row.ended_at,
            estimated=bool(row.estimated),
            room_id=row.room_id,
        )
        for row in tx.conn.execute(stmt.returning(*_ENDED_COLUMNS))
    ]
    tx.record(*ended)
    return ended


def close_rows(tx: Transaction, stmt: sa.Update) -> list[SessionEnded]:
    """Run an UPDATE that closes sessions by a rule of its own (a feature's), recording a
    SessionEnded for each row it closed, as every close of the kernel does."""
    return _close(tx, stmt)


def start(
    tx: Transaction, principal: Principal, new: NewSession, now: int
) -> tuple[bool, Session | None]:
    """Insert the session unless its id exists; returns (created, the stored session).

    The stored session is None when the id belongs to a session the principal may not see.
    A start reported so long ago that the session expired before ``now`` is closed at once,
    as the sweep would close it.
    """
    # The row as parameters of one statement rather than a statement built around them: the
    # same cache key every time, where building and keying a new one was a fifth of a start.
    stmt = insert_ignoring_conflicts(tx.conn, t).returning(t.c.seq)
    created = tx.conn.execute(stmt, row_of(principal.tenant_id, new)).first() is not None
    if created:
        tx.record(started(principal.tenant_id, new))
        if new.started_at + new.timeout_ms < now:
            close_overdue(tx, principal, [new.id], now)
    return created, get(tx.conn, principal, new.id)


def close_overdue(
    tx: Transaction, principal: Principal, session_ids: Iterable[str], now: int
) -> int:
    """Close, as the sweep would, those of the given sessions that are overdue at ``now``."""
    ids = list(session_ids)
    if not ids:
        return 0
    stmt = (
        t.update()
        .where(visible_to(t, principal), among(tx.conn, t.c.id, ids), overdue_at(now))
        .values(**timeout_values(now))
    )
    return len(_close(tx, stmt))


def close_overdue_and_get(
    tx: Transaction, principal: Principal, session_id: str, now: int
) -> Session | None:
    """The session as it stands at ``now``: closed first if it turned out overdue."""
    close_overdue(tx, principal, [session_id], now)
    return get(tx.conn, principal, session_id)


def end(
    tx: Transaction,
    principal: Principal,
    session_id: str,
    *,
    at: int,
    reason: EndReason,
    now: int,
) -> tuple[bool, Session | None]:
    """End the session exactly at ``max(at, last_seen_at)`` if it was alive at ``at``.

    Returns (whether this call changed it, the session). An active session alive at ``at``
    ends in one conditional UPDATE; anything else (an end made after the deadline, a timely
    end arriving after the session timed out) is decided by ``lifecycle.end`` on the row.
    """
    # Not one overdue at ``now``: reads show it timed out, and the rules amend it (as they
    # would after the sweep), whether the sweep came first or not.
    stmt = (
        t.update()
        .where(session_key(principal, session_id), alive_at(at), not_overdue_at(now))
        .values(**exact_end_values(at, reason))
    )
    if _close(tx, stmt):
        return True, get(tx.conn, principal, session_id)
    session = lock(tx.conn, principal, [session_id]).get(session_id)
    if session is None:
        return False, None
    saved = save(tx, principal, [(session, lifecycle.end(session.lifecycle, at, now, reason))])
    return saved[0] != session, saved[0]


def end_many(
    tx: Transaction,
    principal: Principal,
    session_ids: Sequence[str],
    *,
    at: int,
    reason: EndReason,
) -> int:
    """End many active sessions exactly at ``max(at, last_seen_at)`` (presence lost)."""
    if not session_ids:
        return 0
    stmt = (
        t.update()
        .where(visible_to(t, principal), among(tx.conn, t.c.id, session_ids), IS_ACTIVE)
        .values(**exact_end_values(at, reason))
    )
    return len(_close(tx, stmt))


def lock(conn: Connection, principal: Principal, session_ids: Iterable[str]) -> dict[str, Session]:
    """The sessions of these ids, locked for this transaction (in id order, so two processes
    locking the same rows cannot deadlock); SQLite's writer holds the whole database anyway."""
    stmt = (
        sa.select(*SESSION_COLUMNS)
        .where(visible_to(t, principal), among(conn, t.c.id, sorted(set(session_ids))))
        .order_by(t.c.id)
        .with_for_update()
    )
    return {row["id"]: row_to_session(row) for row in conn.execute(stmt).mappings()}


_SAVE = (
    t.update()
    .where(t.c.tenant_id == sa.bindparam("s_tenant"), t.c.id == sa.bindparam("s_id"))
    .values(
        status=sa.bindparam("s_status"),
        end_reason=sa.bindparam("s_end_reason"),
        estimated=sa.bindparam("s_estimated"),
        last_seen_at=sa.bindparam("s_last_seen_at"),
        expires_at=sa.bindparam("s_expires_at"),
        sweep_at=sa.bindparam("s_sweep_at"),
        ended_at=sa.bindparam("s_ended_at"),
        timeout_ms=sa.bindparam("s_timeout_ms"),
        amended_count=sa.bindparam("s_amended_count"),
        amended_at=sa.bindparam("s_amended_at"),
        held_until=sa.bindparam("s_held_until"),
    )
)


def save(
    tx: Transaction, principal: Principal, changes: Iterable[tuple[Session, Lifecycle]]
) -> list[Session]:
    """Write the states the pure rules made of sessions read with :func:`lock`; returns the
    sessions as saved, in order. Closing an active session records SessionEnded; changing one
    closed by timeout records SessionAmended (late evidence)."""
    saved: list[Session] = []
    rows: list[dict[str, Any]] = []
    for before, state in changes:
        after = before.with_lifecycle(state)
        saved.append(after)
        if after == before:
            continue
        rows.append(_save_params(principal, after))
        tx.record(*_change_events(before, after))
    if rows:
        tx.conn.execute(_SAVE, rows)
    return saved


def _save_params(principal: Principal, session: Session) -> dict[str, Any]:
    return {
        "s_tenant": principal.tenant_id,
        "s_id": session.id,
        "s_status": session.status.value,
        "s_end_reason": None if session.end_reason is None else session.end_reason.value,
        "s_estimated": session.estimated,
        "s_last_seen_at": session.last_seen_at,
        "s_expires_at": session.expires_at,
        # A state the rules wrote: the sweep looks at it when it would be overdue.
        "s_sweep_at": session.expires_at,
        "s_ended_at": session.ended_at,
        "s_timeout_ms": session.timeout_ms,
        "s_amended_count": session.amended_count,
        "s_amended_at": session.amended_at,
        "s_held_until": session.held_until,
    }


def _change_events(before: Session, after: Session) -> list[SessionEnded | SessionAmended]:
    if before.status is Status.ACTIVE and after.status is not Status.ACTIVE:
        assert after.end_reason is not None and after.ended_at is not None
        return [
            SessionEnded(
                tenant_id=after.tenant_id,
                session_id=after.id,
                user_id=after.user_id,
                kind=after.kind,
                status=after.status,
                reason=after.end_reason,
                started_at=after.started_at,
                ended_at=after.ended_at,
                estimated=after.estimated,
            )
        ]
    if before.lifecycle.is_amendable:
        assert before.ended_at is not None
        return [
            SessionAmended(
                tenant_id=after.tenant_id,
                session_id=after.id,
                user_id=after.user_id,
                kind=after.kind,
                status=after.status,
                started_at=after.started_at,
                previous_ended_at=before.ended_at,
                ended_at=after.ended_at,
            )
        ]
    return []


def apply_policy(
    tx: Transaction,
    principal: Principal,
    kinds: Sequence[str] | None,
    *,
    now: int,
    timeout_ms: int,
    grace_ms: int,
    interval_ms: int,
    exclude_kinds: Sequence[str] = (),
) -> int:
    """Give active sessions of these kinds (None: all but ``exclude_kinds``) a new policy.

    Those overdue at ``now`` are closed first, as the sweep would close them: reads already
    showed them timed out at the estimate of the old policy, and that is what they keep,
    whenever the sweep runs. ``expires_at`` is left alone: the new timeout applies from the
    next heartbeat on (a presence source's beat so far is written into the row first, under
    the old timeout).
    """
    conditions = [visible_to(t, principal), IS_ACTIVE]
    if kinds is not None:
        conditions.append(t.c.kind.in_(kinds))
    if exclude_kinds:
        conditions.append(t.c.kind.not_in(exclude_kinds))
    _close(tx, t.update().where(*conditions, overdue_at(now)).values(**timeout_values(now)))
    stmt = (
        t.update()
        .where(*conditions)
        .values(
            # The source's beat so far counts with the timeout it was made under.
            **written_through(),
            # A shorter timeout can bring the deadline of a source's next beat before
            # sweep_at, and such a beat does not move it: the next sweep looks again.
            sweep_at=LAST_SEEN_AT,
            timeout_ms=timeout_ms,
            grace_ms=grace_ms,
            heartbeat_interval_ms=interval_ms,
        )
    )
    return tx.conn.execute(stmt).rowcount
