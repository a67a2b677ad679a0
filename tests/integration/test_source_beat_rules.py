"""A presence session read through its source's beat is the session the domain's rules give
when every snapshot is applied to it as a heartbeat, under any order of snapshots, its own
beats (late ones included), ends and sweeps, on both databases."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings

from sessionkeeper.domain import lifecycle as lc
from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.principal import Principal, operator
from sessionkeeper.storage import presence as presence_store
from sessionkeeper.storage import sessions as store
from sessionkeeper.storage import tenants as tenant_store
from sessionkeeper.storage.database import Database
from sessionkeeper.storage.transaction import Transaction
from tests.integration.lifecycle_script import Step, apply, scripts
from tests.integration.test_storage import GRACE, TIMEOUT, new_session
from tests.support import T0

SOURCE = "bot"


def _principal(db: Database) -> Principal:
    found = db.reader.run_sync(lambda c: tenant_store.get_tenant(c, "beats"))
    if found is None:
        found = db.writer.run_sync(lambda tx: tenant_store.create_tenant(tx.conn, "beats", T0))
    assert found is not None
    return operator(found.id, "beats")


def _snapshot(tx: Transaction, principal: Principal, when: int) -> None:
    """What a snapshot that still lists the session does to it (``PresenceService``)."""
    assert presence_store.claim_time(tx.conn, principal, SOURCE, when) is not None
    _, overdue = presence_store.open_for_source(tx.conn, principal, SOURCE, when)
    store.close_overdue(tx, principal, overdue, when)
    presence_store.beat(tx.conn, principal, SOURCE, when)


def _fresh(tx: Transaction) -> None:
    # One source per example: its beat must start from nothing.
    tx.conn.exec_driver_sql("DELETE FROM presence_sources")
    tx.conn.exec_driver_sql("DELETE FROM sessions")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=scripts("snapshot", "snapshot"))
def test_a_session_read_through_its_source_follows_the_domains_rules(
    database: Database, script: list[Step]
) -> None:
    principal = _principal(database)
    sid = f"p{abs(hash(repr(script)))}"
    database.writer.run_sync(_fresh)
    session = replace(new_session(sid), source=SOURCE)
    database.writer.run_sync(lambda tx: store.start(tx, principal, session, T0))
    model = lc.start(T0, timeout_ms=TIMEOUT, grace_ms=GRACE)
    now = T0
    for step in script:
        if step[0] != "snapshot":
            model, now = apply(database, principal, sid, model, now, step)
            continue
        # At the server's time (snapshots only move forward): what was overdue closes, and
        # the session, still listed, gets a heartbeat.
        model = lc.sweep(model, now)
        if model.status is Status.ACTIVE:
            model = lc.heartbeat(model, now, now)
        database.writer.run_sync(lambda tx, when=now: _snapshot(tx, principal, when))
    stored = database.reader.run_sync(lambda c: store.get(c, principal, sid))
    assert stored is not None
    assert stored.lifecycle == model, script
