"""Many new sessions at once store exactly the rows that one start each would."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from sessionkeeper.domain.session import NewSession
from sessionkeeper.storage import session_inserts
from sessionkeeper.storage import sessions as store
from sessionkeeper.storage.database import Database
from sessionkeeper.storage.tables import sessions as sessions_table
from tests.integration.test_storage import new_session, tenant
from tests.support import T0

VARIED = [
    new_session("plain"),
    replace(
        new_session("full", kind="voice"),
        label="Général ☕",
        attributes={"platform": "pc", "nested": {"n": [1, 2.5, None, True]}, "empty": {}},
        source="bot",
        interval_ms=7_000,
        continues="earlier",
        subject={"course": "c-1", "lesson": "l/2"},
        room_id="room-1",
    ),
    replace(new_session("quote"), user_id='o"brien\\', label="", attributes={"": ""}),
]


def _stored(database: Database, ids: list[str]) -> list[dict[str, object]]:
    columns = [c for c in sessions_table.c if c.name not in ("seq", "id")]
    query = sa.select(*columns).where(sessions_table.c.id.in_(ids)).order_by(sessions_table.c.id)
    with database.read_engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def test_insert_many_stores_what_one_start_each_stores(database: Database) -> None:
    principal = tenant(database)
    one_by_one: list[NewSession] = [replace(n, id=f"a-{n.id}") for n in VARIED]
    together: list[NewSession] = [replace(n, id=f"b-{n.id}") for n in VARIED]
    for new in one_by_one:
        database.writer.run_sync(lambda tx, new=new: store.start(tx, principal, new, T0))
    database.writer.run_sync(lambda tx: session_inserts.insert_many(tx, principal, together))
    expected = _stored(database, [n.id for n in one_by_one])
    assert _stored(database, [n.id for n in together]) == expected
    full, plain, _ = expected  # in id order
    assert full["attributes"] == VARIED[1].attributes and full["label"] == "Général ☕"
    assert full["subject"] == {"course": "c-1", "lesson": "l/2"}
    assert plain["subject"] is None and plain["label"] is None
