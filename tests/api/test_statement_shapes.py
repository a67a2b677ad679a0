"""What the hot paths ask the database: statuses written into the SQL, a lone heartbeat in
the statement a group uses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from sessionkeeper.storage import heartbeats
from tests.support import Harness

# A status compared with a bound parameter: ``status = ?`` on SQLite, ``status =
# %(status_1)s`` on PostgreSQL (also ``!=``, ``<>`` and ``IN (``).
BOUND_STATUS = re.compile(r"\.status\s*(=|!=|<>|IN\s*\()\s*(\?|%\()", re.IGNORECASE)


@contextmanager
def statements_of(api: Harness) -> Iterator[list[str]]:
    """Every statement the writer and the readers run meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engines = {api.runtime.db.writer.engine, api.runtime.db.read_engine}
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", record)


async def test_no_statement_of_the_session_paths_binds_a_status(api_any: Harness) -> None:
    """SQLite plans again, at every execution, a statement whose bound value could decide
    whether a partial index on ``status = 'active'`` applies; PostgreSQL's generic plans
    cannot use those indexes. So no path of the lifecycle binds a status."""
    api = api_any
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 10, "timeout_s": 30, "grace_s": 5})
    with statements_of(api) as seen:
        for sid in ("a", "b", "c"):
            assert (
                await api.post("/v1/sessions", {"id": sid, "user_id": "u", "kind": "app"})
            ).status_code == 201
        api.advance(5)
        assert (await api.post("/v1/sessions/a/heartbeat")).status_code == 200
        beats = {"heartbeats": [{"session_id": "a"}, {"session_id": "b"}]}
        assert (await api.post("/v1/heartbeats", beats)).status_code == 200
        assert (await api.get("/v1/sessions", status="active")).status_code == 200
        assert (await api.get("/v1/sessions", status="ended")).status_code == 200
        assert (await api.put("/v1/presence/bot", [{"user_id": "p", "kind": "app"}])).is_success
        assert (await api.post("/v1/sessions/b/end")).status_code == 200
        api.advance(120)
        assert (await api.post("/v1/maintenance/sweep")).status_code == 200
        assert (await api.get("/v1/sessions/c")).json()["status"] == "timed_out"
    on_sessions = [s for s in seen if re.search(r"\bsessions\b", s)]
    assert len(on_sessions) > 10
    assert [s for s in on_sessions if BOUND_STATUS.search(s)] == []


async def test_a_lone_heartbeat_runs_the_statement_of_a_group(api: Harness) -> None:
    """The writer builds a group's statement once; a heartbeat alone in its group runs that
    same statement instead of building its own."""
    for sid in ("a", "b", "c"):
        await api.post("/v1/sessions", {"id": sid, "user_id": "u", "kind": "app"})
    api.advance(1)
    principal = await api.services.auth.api_key(api.auth()["Authorization"].split()[1])
    now = api.clock.now_ms()
    writer = api.runtime.db.writer

    def beats(*ids: str) -> list[str]:
        ops = [heartbeats.heartbeat_op(principal, sid, at=now, now=now) for sid in ids]
        with statements_of(api) as seen:
            results = writer.run_sync(lambda tx: heartbeats.HeartbeatOp.run_combined(tx, ops))
        assert [outcome for outcome, _ in results] == ["ok"] * len(ids)
        return [s for s in seen if s.lstrip().upper().startswith("UPDATE SESSIONS")]

    with statements_of(api) as alone:
        lone = await writer.run(heartbeats.heartbeat_op(principal, "c", at=now, now=now))
    assert lone[0] == "ok"
    grouped = beats("a", "b")
    updates = [s for s in alone if s.lstrip().upper().startswith("UPDATE SESSIONS")]
    assert updates and updates == grouped
