"""A presence session read through its source's beat is the session the domain's rules give
when every snapshot is applied to it as a heartbeat, under any order of snapshots, its own
beats (late ones included), ends and sweeps, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionkeeper.domain import lifecycle as lc
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.principal import Principal, operator
from sessionkeeper.domain.session import NewSession
from sessionkeeper.storage import heartbeats
from sessionkeeper.storage import presence as presence_store
from sessionkeeper.storage import sessions as store
from sessionkeeper.storage import tenants as tenant_store
from sessionkeeper.storage.database import Database
from sessionkeeper.storage.transaction import Transaction
from tests.integration.test_storage import GRACE, TIMEOUT
from tests.support import T0, settings_for

SOURCE = "bot"


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(settings_for(db_url))
    db.migrate()
    yield db
    db.close()


ops = st.lists(
    st.tuples(
        st.sampled_from(["snapshot", "snapshot", "beat", "batch", "end", "sweep", "wait"]),
        st.integers(min_value=-30_000, max_value=90_000),
        st.lists(st.integers(min_value=-70_000, max_value=70_000), min_size=1, max_size=3),
    ),
    max_size=14,
)


def _principal(db: Database) -> Principal:
    found = db.reader.run_sync(lambda c: tenant_store.get_tenant(c, "beats"))
    if found is None:
        found = db.writer.run_sync(lambda tx: tenant_store.create_tenant(tx.conn, "beats", T0))
    assert found is not None
    return operator(found.id, "beats")


def _snapshot(tx: Transaction, principal: Principal, when: int) -> None:
    """What a snapshot that still lists the session does to it (``PresenceService``)."""
    assert presence_store.claim_time(tx.conn, principal, SOURCE, when)
    _, overdue = presence_store.open_for_source(tx.conn, principal, SOURCE, when)
    store.close_overdue(tx, principal, overdue, when)
    presence_store.beat(tx.conn, principal, SOURCE, when)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=ops)
def test_a_session_read_through_its_source_follows_the_domains_rules(
    database: Database,
    script: list[tuple[str, int, list[int]]],
) -> None:
    principal = _principal(database)
    sid = f"p{abs(hash(repr(script)))}"
    new = NewSession(
        id=sid,
        user_id=sid,
        kind="game",
        label=None,
        attributes={},
        started_at=T0,
        timeout_ms=TIMEOUT,
        grace_ms=GRACE,
        start_digest=sid,
        source=SOURCE,
    )
    # One source per example: the source's beat must start from nothing.
    database.writer.run_sync(lambda tx: tx.conn.exec_driver_sql("DELETE FROM presence_sources"))
    database.writer.run_sync(lambda tx: tx.conn.exec_driver_sql("DELETE FROM sessions"))
    database.writer.run_sync(lambda tx: store.start(tx, principal, new, T0))
    model = lc.start(T0, timeout_ms=TIMEOUT, grace_ms=GRACE)
    now = T0
    for op, delta, offsets in script:
        if op == "wait":
            now += abs(delta)
        elif op == "snapshot":  # at the server's time: snapshots only move forward
            model = lc.sweep(model, now)
            if model.status is Status.ACTIVE:
                model = lc.heartbeat(model, now, now)
            database.writer.run_sync(partial(_snapshot, principal=principal, when=now))
        elif op == "batch":
            ats = [max(T0, now + offset) for offset in offsets]
            now = max(now, *ats)
            model = lc.heartbeats(model, ats, now)[0]
            beats = [(sid, at) for at in ats]
            database.writer.run_sync(
                partial(heartbeats.heartbeat_batch, principal=principal, beats=beats, now=now)
            )
        elif op == "sweep":
            model = lc.sweep(model, now)
            database.writer.run_sync(
                partial(store.close_overdue, principal=principal, session_ids=[sid], now=now)
            )
        else:
            at = max(T0, now + delta)
            now = max(now, at)
            if op == "beat":
                model = lc.heartbeat(model, at, now)
                database.writer.run_sync(
                    partial(
                        heartbeats.heartbeat, principal=principal, session_id=sid, at=at, now=now
                    )
                )
            else:
                model = lc.end(model, at, now)
                database.writer.run_sync(
                    partial(
                        store.end,
                        principal=principal,
                        session_id=sid,
                        at=at,
                        reason=EndReason.CLIENT,
                        now=now,
                    )
                )
    stored = database.reader.run_sync(lambda c: store.get(c, principal, sid))
    assert stored is not None
    assert stored.lifecycle == model, script
