"""The indexes of ends and durations hold closed sessions only, and every query of them can
still read them: the listings ordered by end or duration, and ends in a window."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.domain.listing import SessionFilter, SessionOrder, SortKey
from sessionkeeper.domain.principal import Principal
from sessionkeeper.storage import session_filters, session_inserts, session_queries
from sessionkeeper.storage import sessions as store
from sessionkeeper.storage.database import Database
from sessionkeeper.storage.sessions import SESSION_COLUMNS
from tests.integration.test_storage import new_session, tenant
from tests.support import T0

ENDED = "ix_sessions_tenant_ended"
DURATION = "ix_sessions_tenant_duration"


SESSIONS = 3_000
CLOSED = [f"s{i}" for i in range(SESSIONS) if i % 3]


def _with_sessions(database: Database) -> Principal:
    """A tenant with open sessions and twice as many closed ones, each ended at its own
    time: enough rows that PostgreSQL's planner prices an index by its order and range."""
    principal = tenant(database)
    news = [new_session(f"s{i}", at=T0 + i) for i in range(SESSIONS)]
    database.writer.run_sync(lambda tx: session_inserts.insert_many(tx, principal, news))
    # Ended "at T0", before most starts: each ends at its own last beat, its start.
    database.writer.run_sync(
        lambda tx: store.end_many(tx, principal, CLOSED, at=T0, reason=EndReason.CLIENT)
    )
    return principal


def _plan(database: Database, stmt: sa.Select) -> str:
    """The plan the database can take for ``stmt``; on PostgreSQL with sequential scans
    priced out, so that a small table answers whether the index is usable at all."""
    with database.write_engine.connect() as conn:
        query = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            return " ".join(str(r) for r in conn.execute(sa.text("EXPLAIN QUERY PLAN " + query)))
        conn.execute(sa.text("ANALYZE sessions"))
        conn.execute(sa.text("SET enable_seqscan = off"))
        return " ".join(str(r) for r in conn.execute(sa.text("EXPLAIN " + query)))


def _definitions(database: Database) -> dict[str, str]:
    with database.write_engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            query = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        else:
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sessions'"
        return {name: definition for name, definition in conn.execute(sa.text(query))}


def test_the_indexes_of_ends_and_durations_leave_open_sessions_out(database: Database) -> None:
    definitions = _definitions(database)
    for name in (ENDED, DURATION):
        assert "ended_at IS NOT NULL" in definitions[name], definitions[name]


@pytest.mark.parametrize(
    "order",
    [
        SessionOrder.ENDED_LATEST,
        SessionOrder.ENDED_EARLIEST,
        SessionOrder.LONGEST,
        SessionOrder.SHORTEST,
    ],
)
def test_listings_by_end_or_duration_read_their_index(
    database: Database, order: SessionOrder
) -> None:
    principal = _with_sessions(database)
    stmt = session_queries.list_statement(
        principal, SessionFilter(), limit=50, after=None, now=T0 + 2_000, order=order
    )
    expected = DURATION if order.key is SortKey.DURATION else ENDED
    assert expected in _plan(database, stmt)
    listed = database.reader.run_sync(
        lambda conn: session_queries.list_sessions(
            conn, principal, SessionFilter(), limit=50, after=None, now=T0 + 2_000, order=order
        )
    )
    assert len(listed) == 50
    assert set(s.id for s in listed) <= set(CLOSED)


def test_ends_in_a_window_are_found_through_the_index_of_ends(database: Database) -> None:
    principal = _with_sessions(database)
    window = SessionFilter(ended_after=T0 + 100, ended_before=T0 + 130)
    conditions = session_filters.conditions(principal, window, T0 + 2_000)
    stmt = sa.select(*SESSION_COLUMNS).where(*conditions)
    if database.write_engine.dialect.name == "postgresql":
        # PostgreSQL ORs the range of ends with the sweep's index of overdue sessions; SQLite
        # reads an OR of two indexes under a tenant condition through a tenant index instead,
        # as it did before ends left open sessions out.
        assert ENDED in _plan(database, stmt)
    ended = database.reader.run_sync(lambda conn: conn.execute(stmt).all())
    assert sorted(row.id for row in ended) == sorted(
        f"s{i}" for i in range(100, 130) if f"s{i}" in CLOSED
    )
