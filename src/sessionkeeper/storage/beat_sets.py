"""A group of heartbeats as one UPDATE: the heartbeat rule joined with the group's beats,
answering with the rows it moved.

The beats travel as one parameter, which the database unpacks: arrays on PostgreSQL
(``unnest``), a JSON text on SQLite (``json_each``). Against an ``executemany`` of one UPDATE
per beat this is one statement instead of a thousand, and no read back of the rows. On
SQLite all the rows are written in the statement's first step; fetching what RETURNING
gives is cheap. (On SQLite, too, the beat leaves ``sweep_at`` to a second statement:
``Beats`` in ``heartbeat_rule.py``.) Each session may appear once in a group (the caller
runs a group that repeats one through an ``executemany``, in time order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Row

from sessionkeeper.storage.heartbeat_rule import Beats
from sessionkeeper.storage.source_beats import not_overdue_at
from sessionkeeper.storage.tables import sessions as t

Beat = tuple[int, str, int]  # (tenant id, session id, at)

_ARRAYS = (
    sa.func.unnest(
        sa.bindparam("b_tenants", type_=postgresql.ARRAY(sa.BigInteger)),
        sa.bindparam("b_ids", type_=postgresql.ARRAY(sa.Text)),
        sa.bindparam("b_ats", type_=postgresql.ARRAY(sa.BigInteger)),
    )
    .table_valued(
        sa.column("b_tenant", sa.BigInteger),
        sa.column("b_id", sa.Text),
        sa.column("b_at", sa.BigInteger),
    )
    .render_derived("beats", with_types=False)
)
_ITEMS = sa.func.json_each(sa.bindparam("b_json", type_=sa.Text)).table_valued("value")
_JSON = sa.select(
    *(
        sa.type_coerce(sa.func.json_extract(_ITEMS.c.value, f"$[{index}]"), kind).label(name)
        for index, (name, kind) in enumerate(
            (("b_tenant", sa.BigInteger), ("b_id", sa.Text), ("b_at", sa.BigInteger))
        )
    )
).subquery("beats")


def _beats(beats: Any) -> Beats:
    return Beats(
        sa.and_(
            t.c.tenant_id == beats.c.b_tenant,
            t.c.id == beats.c.b_id,
            not_overdue_at(sa.bindparam("b_now", type_=sa.BigInteger)),
        ),
        beats.c.b_at,
    )


_BEATS = {"postgresql": _beats(_ARRAYS), "sqlite": _beats(_JSON)}


def params(dialect: str, beats: Sequence[Beat], now: int) -> dict[str, Any]:
    """The one parameter (or three) that carry ``beats`` to the database named ``dialect``,
    and ``now``, by which a session overdue is left to the rules: made apart from
    :func:`update`, so that a caller can make it before the writer's turn."""
    if dialect == "postgresql":
        return {
            "b_tenants": [tenant for tenant, _, _ in beats],
            "b_ids": [session_id for _, session_id, _ in beats],
            "b_ats": [at for _, _, at in beats],
            "b_now": now,
        }
    # Text, not orjson's bytes: SQLite takes a BLOB for JSON text only from 3.45 on, and
    # then as its binary JSONB.
    return {"b_json": orjson.dumps(beats).decode(), "b_now": now}


def update(
    conn: Connection, carried: dict[str, Any], columns: Sequence[sa.ColumnElement[Any]]
) -> Sequence[Row[Any]]:
    """Apply the beats ``carried`` (:func:`params`; each session once) by the heartbeat rule;
    the moved rows' ``columns``."""
    return _BEATS[conn.dialect.name].rows(conn, columns, carried)
