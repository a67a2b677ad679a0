"""SQL for activity events: insert-or-ignore batches, listings, retention."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, RowMapping

from sessionkeeper.domain.listing import Cursor
from sessionkeeper.domain.principal import Principal
from sessionkeeper.events.changes import EventsDropped, EventsStored
from sessionkeeper.events.rules import (
    NO_KIND,
    Event,
    EventFilter,
    EventType,
    ItemOutcome,
    NewEvent,
    Outcome,
    beat_groups,
)
from sessionkeeper.events.tables import events as t
from sessionkeeper.storage import heartbeats
from sessionkeeper.storage.dialect import among, insert_ignoring_conflicts
from sessionkeeper.storage.heartbeat_rule import Beats
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.source_beats import not_overdue_at
from sessionkeeper.storage.tables import sessions, tenants
from sessionkeeper.storage.transaction import Transaction

# Raw events one retention statement drops; keeps each write transaction short.
DROP_CHUNK = 5000
_EVENT_COLUMNS = (
    t.c.event_id,
    t.c.session_id,
    t.c.user_id,
    t.c.type,
    t.c.name,
    t.c.properties,
    t.c.at,
    t.c.received_at,
)


_AT = sa.bindparam("e_at", type_=sa.BigInteger)
# The kernel's heartbeat rule as one executemany. Unlike a heartbeat request, a batch of events
# wants no session back: it neither reads the sessions again nor closes those the beats came
# too late for (the sweep does, as it would have anyway). Only sessions the batch's principal
# may see are beaten: their ids come from ``session_kinds``. A session overdue when the event
# is stored already reads as timed out, as the sweep would close it: no beat of an event
# revives it, whether the sweep came first or not.
_HEARTBEAT = Beats(
    sa.and_(
        sessions.c.tenant_id == sa.bindparam("e_tenant"),
        sessions.c.id == sa.bindparam("e_id"),
        not_overdue_at(sa.bindparam("e_now", type_=sa.BigInteger)),
    ),
    _AT,
)

# PostgreSQL: a batch's insert as one statement over its rows sent as one JSON text, which
# the server unpacks (``json_to_recordset``). An executemany is sent as a multi-row VALUES with
# a placeholder per value, whose text the driver parses again on every batch (too long for
# its cache), and arrays are built value by value in Python: either was half a batch's time.
_BATCH = (
    sa.func.json_to_recordset(sa.cast(sa.bindparam("a_rows", type_=sa.Text), postgresql.JSON))
    .table_valued(
        *(
            sa.column(name, sa.Text)
            for name in ("event_id", "session_id", "user_id", "kind", "type", "name")
        ),
        sa.column("properties", postgresql.JSON),
        sa.column("at", sa.BigInteger),
    )
    .render_derived("batch", with_types=True)
)
_COLUMNS = tuple(column.name for column in _BATCH.c)
_INSERT_ROWS = (
    postgresql.insert(t)
    .from_select(
        ["tenant_id", *_COLUMNS, "received_at"],
        sa.select(
            sa.bindparam("a_tenant", type_=sa.Integer),
            *_BATCH.c,
            sa.bindparam("a_received", type_=sa.BigInteger),
        ),
    )
    .on_conflict_do_nothing()
    .returning(t.c.event_id)
)


def row_to_event(row: RowMapping) -> Event:
    return Event(
        event_id=row["event_id"],
        session_id=row["session_id"],
        user_id=row["user_id"],
        type=EventType(row["type"]),
        name=row["name"],
        properties=row["properties"],
        at=row["at"],
        received_at=row["received_at"],
    )


def session_kinds(conn: Connection, principal: Principal, ids: Iterable[str]) -> dict[str, str]:
    """The kind of each of these sessions that the principal may see, by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(
        sa.select(sessions.c.id, sessions.c.kind).where(
            visible_to(sessions, principal), among(conn, sessions.c.id, wanted)
        )
    )
    return {session_id: kind for session_id, kind in rows}


def store_batch(
    tx: Transaction, principal: Principal, batch: Sequence[NewEvent], now: int
) -> list[ItemOutcome]:
    """Store the events that are new; one outcome per event, in order.

    One INSERT … ON CONFLICT DO NOTHING … RETURNING: what it returns was stored by this call,
    everything else had been stored before (also by a concurrent request of another process,
    which the unique index makes wait for ours). Each stored event of an active session is a
    heartbeat of that session at the event's time, applied by the kernel's heartbeat rule
    (``heartbeat_condition``) in the same transaction, so it never revives a closed session.
    """
    kinds = session_kinds(tx.conn, principal, (e.session_id for e in batch if e.session_id))
    outcomes: list[ItemOutcome | None] = [None] * len(batch)
    first_of: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for i, event in enumerate(batch):
        if event.session_id is not None and event.session_id not in kinds:
            outcomes[i] = ItemOutcome(Outcome.SESSION_NOT_FOUND)
        elif event.event_id in first_of:
            outcomes[i] = ItemOutcome(Outcome.DUPLICATE)
        else:
            first_of[event.event_id] = i
            rows.append(_row(principal.tenant_id, event, kinds, now))
    stored: set[str] = set()
    if rows:
        # In key order: two processes storing overlapping batches cannot deadlock.
        rows.sort(key=lambda row: str(row["event_id"]))
        stored = _insert(tx.conn, rows)
    for event_id, i in first_of.items():
        outcomes[i] = ItemOutcome(Outcome.STORED if event_id in stored else Outcome.DUPLICATE)
    kept = [row for row in rows if row["event_id"] in stored]
    beats = [(r["session_id"], r["at"]) for r in kept if r["session_id"]]
    beat_sessions(tx.conn, principal, beats, now)
    if kept:
        times = [int(row["at"]) for row in kept]
        tx.record(
            EventsStored(
                tenant_id=principal.tenant_id,
                first_at=min(times),
                last_at=max(times),
                count=len(kept),
            )
        )
    return [outcome or ItemOutcome(Outcome.INVALID) for outcome in outcomes]


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the rows that are new; the event ids it stored."""
    if conn.dialect.name == "postgresql":
        first = rows[0]  # one tenant's, received at one time
        params = {
            "a_tenant": first["tenant_id"],
            "a_received": first["received_at"],
            "a_rows": json.dumps([{name: row[name] for name in _COLUMNS} for row in rows]),
        }
        found = conn.execute(_INSERT_ROWS, params)
    else:
        found = conn.execute(insert_ignoring_conflicts(conn, t).returning(t.c.event_id), rows)
    return set(found.scalars())


def beat_sessions(
    conn: Connection, principal: Principal, beats: list[tuple[str, int]], now: int
) -> None:
    """Apply the stored events' beats to their sessions, each session's in time order; none
    to a session overdue at ``now``."""
    for at, group in beat_groups(beats):
        if at is None:
            params = [
                {"e_tenant": principal.tenant_id, "e_id": sid, "e_at": t, "e_now": now}
                for sid, t in group
            ]
            _HEARTBEAT.count(conn, params)
        else:
            heartbeats.refresh_many(conn, principal, [sid for sid, _ in group], at, now=now)


def _row(tenant_id: int, event: NewEvent, kinds: dict[str, str], now: int) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "event_id": event.event_id,
        "session_id": event.session_id,
        "user_id": event.user_id,
        "kind": kinds[event.session_id] if event.session_id else NO_KIND,
        "type": event.type.value,
        "name": event.name,
        "properties": None if event.properties is None else dict(event.properties),
        "at": now if event.at is None else event.at,
        "received_at": now,
    }


def list_events(
    conn: Connection,
    principal: Principal,
    where: EventFilter,
    *,
    limit: int,
    after: Cursor | None,
) -> list[Event]:
    """Events newest first (ties by event_id); ``after`` is the last row of the page before."""
    conditions: list[sa.ColumnElement[bool]] = [visible_to(t, principal)]
    for column, value in (
        (t.c.user_id, where.user_id),
        (t.c.session_id, where.session_id),
        (t.c.type, None if where.type is None else where.type.value),
        (t.c.name, where.name),
    ):
        if value is not None:
            conditions.append(column == value)
    if where.since is not None:
        conditions.append(t.c.at >= where.since)
    if where.until is not None:
        conditions.append(t.c.at < where.until)
    if after is not None:
        conditions.append(
            sa.or_(
                t.c.at < after.value,
                sa.and_(t.c.at == after.value, t.c.event_id < after.id),
            )
        )
    stmt = (
        sa.select(*_EVENT_COLUMNS)
        .where(*conditions)
        .order_by(t.c.at.desc(), t.c.event_id.desc())
        .limit(limit)
    )
    return [row_to_event(row) for row in conn.execute(stmt).mappings()]


def first_event_at(conn: Connection, tenant_id: int) -> int | None:
    """When the tenant's oldest stored event was made."""
    return conn.execute(sa.select(sa.func.min(t.c.at)).where(t.c.tenant_id == tenant_id)).scalar()


def tenants_with_events_before(conn: Connection, before: int) -> list[int]:
    """Tenants that have events made before ``before`` (one index probe per tenant)."""
    older = sa.exists().where(t.c.tenant_id == tenants.c.id, t.c.at < before)
    return list(conn.execute(sa.select(tenants.c.id).where(older).order_by(tenants.c.id)).scalars())


def drop_before(tx: Transaction, tenant_id: int, before: int, limit: int = DROP_CHUNK) -> int:
    """Drop up to ``limit`` of the tenant's events made before ``before``, oldest first."""
    seqs = list(
        tx.conn.execute(
            sa.select(t.c.seq)
            .where(t.c.tenant_id == tenant_id, t.c.at < before)
            .order_by(t.c.at)
            .limit(limit)
        ).scalars()
    )
    if not seqs:
        return 0
    tx.conn.execute(t.delete().where(t.c.seq.in_(seqs)))
    tx.record(EventsDropped(tenant_id=tenant_id, before=before, count=len(seqs)))
    return len(seqs)
