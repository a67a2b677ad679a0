"""Change events: published once, only after their transaction committed, never when it
rolled back, also on the path where a failed group is retried op by op; and the metrics
subscriber counts every close by timeout, whichever write made it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from sessionkeeper.domain.events import ChangeEvent, HeartbeatsApplied
from sessionkeeper.storage.engine import create_engine
from sessionkeeper.storage.transaction import Transaction
from sessionkeeper.storage.writer import Writer
from tests.support import Harness, iso


class Marked(HeartbeatsApplied):
    """A test event; which op recorded it is in ``ok``."""


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    w = Writer(create_engine(url, role="writer"))
    w.run_sync(lambda tx: tx.conn.execute(sa.text("CREATE TABLE t (x INTEGER PRIMARY KEY)")))
    yield w
    w.close()


def _insert(x: int) -> object:
    def op(tx: Transaction) -> int:
        tx.conn.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": x})
        tx.record(Marked(tenant_id=1, ok=x))
        return x

    return op


def _fails_after_recording(x: int) -> object:
    def op(tx: Transaction) -> None:
        tx.conn.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": x})
        tx.record(Marked(tenant_id=1, ok=x))
        raise RuntimeError("this op fails after its write and its event")

    return op


def _submit_as_one_group(writer: Writer, ops: list[object]) -> list[object]:
    """Hold the writer in a blocking op so that ``ops`` queue up and form one group."""
    gate = threading.Event()
    blocker = writer.submit(lambda tx: gate.wait(10))
    time.sleep(0.05)
    futures = [writer.submit(op) for op in ops]  # type: ignore[arg-type]
    gate.set()
    blocker.result(5)
    return futures


def test_events_are_published_once_after_commit(writer: Writer, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []  # (event's x, rows visible to another connection)
    other = create_engine(f"sqlite:///{tmp_path / 'events.db'}", role="reader")

    def visible(events: Sequence[ChangeEvent]) -> None:
        with other.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one()
        seen.extend((e.ok, count) for e in events if isinstance(e, Marked))

    writer.subscribers.after_commit.append(visible)
    for future in _submit_as_one_group(writer, [_insert(1), _insert(2), _insert(3)]):
        future.result(5)  # type: ignore[attr-defined]
    other.dispose()
    # Each event once; when it was published all three rows were already committed.
    assert sorted(seen) == [(1, 3), (2, 3), (3, 3)]


def test_a_rolled_back_op_publishes_nothing(writer: Writer) -> None:
    published: list[ChangeEvent] = []
    writer.subscribers.after_commit.append(published.extend)
    with pytest.raises(RuntimeError):
        writer.run_sync(_fails_after_recording(7))  # type: ignore[arg-type]
    assert published == []
    rows = writer.run_sync(lambda tx: tx.conn.execute(sa.text("SELECT x FROM t")).all())
    assert rows == []


def test_a_group_retried_op_by_op_publishes_each_committed_op_once(writer: Writer) -> None:
    published: list[ChangeEvent] = []
    writer.subscribers.after_commit.append(published.extend)
    ops = [_insert(1), _fails_after_recording(2), _insert(3), _insert(4)]
    futures = _submit_as_one_group(writer, ops)
    results = []
    for future in futures:
        try:
            results.append(future.result(5))  # type: ignore[attr-defined]
        except RuntimeError:
            results.append("failed")
    assert results == [1, "failed", 3, 4]
    # The group's first attempt recorded 1, 2 (and rolled back); only the op-by-op
    # transactions that committed published, each once.
    assert sorted(e.ok for e in published if isinstance(e, Marked)) == [1, 3, 4]


def test_in_transaction_subscribers_write_with_the_change_or_not_at_all(writer: Writer) -> None:
    writer.run_sync(lambda tx: tx.conn.execute(sa.text("CREATE TABLE outbox (x INTEGER)")))

    def outbox(conn: sa.Connection, events: Sequence[ChangeEvent]) -> None:
        for event in events:
            if isinstance(event, Marked):
                conn.execute(sa.text("INSERT INTO outbox VALUES (:x)"), {"x": event.ok})

    writer.subscribers.in_transaction.append(outbox)
    writer.run_sync(_insert(5))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        writer.run_sync(_fails_after_recording(6))  # type: ignore[arg-type]
    rows = writer.run_sync(lambda tx: tx.conn.execute(sa.text("SELECT x FROM outbox")).all())
    assert [r.x for r in rows] == [5]


def _timed_out(metrics_text: str) -> dict[str, float]:
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "sessionkeeper_sessions_timed_out":
            return {s.labels["kind"]: s.value for s in family.samples if s.name.endswith("_total")}
    return {}


async def test_the_timed_out_metric_counts_every_kind_of_timeout_close(api: Harness) -> None:
    """A sweep, a late heartbeat, a late batch heartbeat, a late end, a start reported too
    long ago and a snapshot finding its sessions expired each close one session by timeout."""
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 10, "timeout_s": 30})
    start = api.clock.now_ms()
    for kind in ("swept", "beat", "batch", "ended"):
        await api.post("/v1/sessions", {"id": kind, "user_id": "u", "kind": kind})
    await api.put("/v1/presence/bot", [{"user_id": "u", "kind": "presence"}])
    api.advance(60)  # everything is overdue now, nothing swept yet
    assert (await api.post("/v1/sessions/beat/heartbeat", {})).status_code == 409
    batch = await api.post("/v1/heartbeats", {"heartbeats": [{"session_id": "batch"}]})
    assert batch.json()["closed"] == 1
    assert (await api.post("/v1/sessions/ended/end", {})).json()["status"] == "timed_out"
    old = {"id": "old", "user_id": "u", "kind": "old", "started_at": iso(start - 60_000)}
    assert (await api.post("/v1/sessions", old)).json()["status"] == "timed_out"
    snapshot = await api.put("/v1/presence/bot", [])
    assert snapshot.json()["timed_out_count"] == 1
    assert (await api.post("/v1/maintenance/sweep")).json()["closed"] == 1  # "swept"
    counted = _timed_out((await api.client.get("/metrics")).text)
    assert counted == {k: 1.0 for k in ("swept", "beat", "batch", "ended", "old", "presence")}
