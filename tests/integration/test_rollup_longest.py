"""The tenant's longest session, which bounds how far back a day's rollup looks for sessions
still going: it only ever rises, and a close that does not raise it writes nothing."""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.rollups import store
from sessionkeeper.rollups.tables import rollup_tenants
from sessionkeeper.storage.database import Database
from tests.integration.test_storage import tenant


def _raise(database: Database, tenant_id: int, duration_ms: int) -> None:
    database.writer.run_sync(lambda tx: store.raise_longest(tx.conn, tenant_id, duration_ms))


def _row_version(database: Database, tenant_id: int) -> tuple[int, str | None]:
    """The longest session, and on PostgreSQL the row version holding it (``xmin``)."""
    with database.write_engine.connect() as conn:
        longest = store.state(conn, tenant_id).longest_session_ms
        if conn.dialect.name != "postgresql":
            return longest, None
        version = conn.execute(
            sa.select(sa.column("xmin", sa.Text))
            .select_from(rollup_tenants)
            .where(rollup_tenants.c.tenant_id == tenant_id)
        ).scalar_one()
        return longest, version


def test_the_longest_session_only_rises(database: Database) -> None:
    tenant_id = tenant(database).tenant_id
    _raise(database, tenant_id, 5_000)
    longest, version = _row_version(database, tenant_id)
    assert longest == 5_000
    _raise(database, tenant_id, 3_000)
    _raise(database, tenant_id, 5_000)
    # Not rewritten at all: a snapshot that ends sessions calls this in every commit.
    assert _row_version(database, tenant_id) == (5_000, version)
    _raise(database, tenant_id, 9_000)
    assert _row_version(database, tenant_id)[0] == 9_000


def test_a_tenant_without_a_row_gets_one(database: Database) -> None:
    tenant_id = tenant(database, "fresh").tenant_id
    with database.write_engine.begin() as conn:
        conn.execute(rollup_tenants.delete().where(rollup_tenants.c.tenant_id == tenant_id))
    _raise(database, tenant_id, 1_234)
    assert _row_version(database, tenant_id)[0] == 1_234
