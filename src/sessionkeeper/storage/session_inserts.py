"""New sessions as rows: the row a start writes, its change event, and many at once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.events import SessionStarted
from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.policy import TIMEOUT_HEARTBEATS
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import NewSession
from sessionkeeper.storage.tables import sessions as t
from sessionkeeper.storage.transaction import Transaction


def row_of(tenant_id: int, new: NewSession) -> dict[str, Any]:
    """The row a new session is stored as, by column name."""
    state = lifecycle.start(new.started_at, timeout_ms=new.timeout_ms, grace_ms=new.grace_ms)
    return {
        "tenant_id": tenant_id,
        "id": new.id,
        "user_id": new.user_id,
        "kind": new.kind,
        "label": new.label,
        "source": new.source,
        "attributes": dict(new.attributes),
        "status": Status.ACTIVE.value,
        "end_reason": None,
        "estimated": False,
        "started_at": state.started_at,
        "last_seen_at": state.last_seen_at,
        "expires_at": state.expires_at,
        "sweep_at": state.expires_at,
        "ended_at": None,
        "timeout_ms": new.timeout_ms,
        "grace_ms": new.grace_ms,
        "start_digest": new.start_digest,
        "continues": new.continues,
        "heartbeat_interval_ms": (
            new.timeout_ms // TIMEOUT_HEARTBEATS if new.interval_ms is None else new.interval_ms
        ),
        "amended_count": 0,
        "amended_at": None,
        "held_until": None,
        "subject": dict(new.subject) if new.subject else None,
        "room_id": new.room_id,
    }


def started(tenant_id: int, new: NewSession) -> SessionStarted:
    return SessionStarted(
        tenant_id=tenant_id,
        session_id=new.id,
        user_id=new.user_id,
        kind=new.kind,
        started_at=new.started_at,
        source=new.source,
    )


# The columns as stored, every one but the generated ``seq``: what a new row sets, and what a
# statement returns of rows it has just written (RETURNING reads no other table on SQLite).
STORED_COLUMNS = [column for column in t.c if column.name != "seq"]
# PostgreSQL: many rows as one statement over one JSON text the server unpacks, as the event
# ingest does (``events/store.py``). An ``executemany`` sends a row of 25 values each, every
# one dumped by the driver in Python: 100 presence starts took 6 to 9 ms of a snapshot.
_ROWS = (
    sa.func.json_to_recordset(sa.cast(sa.bindparam("n_rows", type_=sa.Text), postgresql.JSON))
    .table_valued(*(sa.column(column.name, column.type) for column in STORED_COLUMNS))
    .render_derived("new_rows", with_types=True)
)
_INSERT_ROWS = postgresql.insert(t).from_select(
    [column.name for column in STORED_COLUMNS], sa.select(*_ROWS.c)
)


def insert_many(tx: Transaction, principal: Principal, news: Sequence[NewSession]) -> None:
    """Insert sessions known not to exist (fresh server-made ids)."""
    if not news:
        return
    rows = [row_of(principal.tenant_id, new) for new in news]
    if tx.conn.dialect.name == "postgresql":
        tx.conn.execute(_INSERT_ROWS, {"n_rows": json.dumps(rows)})
    else:
        tx.conn.execute(t.insert(), rows)
    tx.record(*(started(principal.tenant_id, new) for new in news))
