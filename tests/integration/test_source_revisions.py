"""A presence source's revision moves with every change to one of its open sessions, by
whatever statement, and with nothing else (migration 0010); on both databases."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from sessionkeeper.domain.principal import Principal
from sessionkeeper.storage import presence as presence_store
from sessionkeeper.storage import sessions as store
from sessionkeeper.storage.database import Database
from tests.integration.test_storage import new_session, tenant
from tests.support import T0

TRIGGERS = {"sessions_source_insert", "sessions_source_update", "sessions_source_delete"}


def _revision(db: Database, principal: Principal) -> int:
    return int(db.reader.run_sync(lambda conn: presence_store.revision_of(conn, principal, "bot")))


def _sql(db: Database, statement: str) -> None:
    db.writer.run_sync(lambda tx: tx.conn.execute(sa.text(statement)))


def test_the_triggers_exist_at_the_head(database: Database) -> None:
    with database.read_engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            query = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'sessions'::regclass"
        else:
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        names = set(conn.execute(sa.text(query)).scalars())
    assert names >= TRIGGERS


def test_the_revision_follows_the_open_sessions_of_the_source(database: Database) -> None:
    principal = tenant(database)
    database.writer.run_sync(lambda tx: presence_store.claim_time(tx.conn, principal, "bot", T0))
    revision = _revision(database, principal)

    def moved(statement: str | None = None) -> bool:
        nonlocal revision
        if statement is not None:
            _sql(database, statement)
        before, revision = revision, _revision(database, principal)
        return revision > before

    for sid, source in (("s1", "bot"), ("s2", "bot"), ("plain", None), ("other", "other")):
        session = replace(new_session(sid), source=source)
        database.writer.run_sync(lambda tx, s=session: store.start(tx, principal, s, T0))
        assert moved() is (source == "bot"), sid
    # What a cached open session is made of, or its deadline: the revision moves.
    assert moved(f"UPDATE sessions SET last_seen_at = {T0 + 1} WHERE id = 's1'")
    assert moved(f"UPDATE sessions SET held_until = {T0 + 99_000} WHERE id = 's1'")
    assert moved("UPDATE sessions SET timeout_ms = 5000 WHERE id = 's1'")
    # Neither the sweep's look-ahead nor what the cache does not hold.
    assert not moved(f"UPDATE sessions SET sweep_at = {T0 + 5} WHERE id = 's1'")
    assert not moved("UPDATE sessions SET attributes = '{\"a\": 1}' WHERE id = 's1'")
    assert not moved("UPDATE sessions SET last_seen_at = last_seen_at + 1 WHERE id = 'plain'")
    assert not moved("UPDATE sessions SET last_seen_at = last_seen_at + 1 WHERE id = 'other'")
    # A close moves it; a closed session changes nothing any more.
    assert moved("UPDATE sessions SET status = 'ended', ended_at = last_seen_at WHERE id = 's1'")
    assert not moved("UPDATE sessions SET last_seen_at = last_seen_at + 1 WHERE id = 's1'")
    assert not moved("DELETE FROM sessions WHERE id = 's1'")
    # An amendment that reopens one, and the erasure of an open one.
    _sql(database, "UPDATE sessions SET status = 'timed_out' WHERE id = 's2'")
    moved()
    assert moved("UPDATE sessions SET status = 'active' WHERE id = 's2'")
    assert moved("DELETE FROM sessions WHERE id = 's2'")
