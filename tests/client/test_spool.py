"""A client's spool: what a handle could not deliver outlives its process, and the next process
on the same directory delivers it with its own times.

The crash tests run real processes: a server killed while an application keeps beating into
its spool, then the application SIGKILLed, the server started again and the application run
once more to deliver. Policy ``app``: heartbeats every second, a 2 s timeout, 0.5 s grace;
the handles beat every 0.2 s.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from sessionkeeper.client import Client, EndReason, Status
from sessionkeeper.client.chain import StartRequest
from sessionkeeper.client.evidence import as_ms, now_ms
from sessionkeeper.client.outbox import Outbox
from sessionkeeper.client.spool import FORMAT
from tests.client.live import FAST, Forwarding, Tenant, hanging_network, wait_until
from tests.client.processes import AppProcess, ServerProcess, deliver_spooled
from tests.client.test_offline_handle import refused

TIMEOUT_S = 2.0
GRACE_MS = 500
EVERY_S = 0.2


def spooled(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))


# What a spool file holds


def new_outbox(start: StartRequest) -> Outbox:
    return Outbox(
        start,
        id="s-1",
        started_at=1_000,
        heartbeat_every=1.0,
        continue_after_gap=True,
        max_pending=100,
        backoff=0.01,
    )


def test_kept_evidence_restores_to_the_same_requests() -> None:
    """An outbox rebuilt from its spool state sends what the original would have."""
    original = new_outbox(StartRequest("u", "app", "label", {"a": 1}))
    for at in (2_000, 3_000, 4_000):
        original.beat(at)
    original.end(4_500)
    kept = original.kept()
    assert kept is not None
    restored = Outbox.restored(json.loads(json.dumps(kept)), backoff=0.01)
    assert restored.kept() == kept
    first = restored.next_step(5_000)
    assert first is not None and first.kind == "start"
    assert first.call.body() == original.next_step(5_000).call.body()  # type: ignore[union-attr]
    assert restored.pending == original.pending == 5  # the start, three beats, the end


def test_nothing_is_kept_once_everything_is_delivered() -> None:
    outbox = new_outbox(StartRequest("u", "app"))
    outbox.outcome.stopped = True  # refused: nothing will be delivered
    assert outbox.kept() is None


def test_an_unreadable_file_is_set_aside_not_delivered(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "old.json").write_text(json.dumps({"format": 0}))
    with Client("http://127.0.0.1:9", "sk_unused", spool=tmp_path, **FAST) as app:
        assert app.deliver_spooled(wait=0) == ()
    assert spooled(tmp_path) == []
    assert sorted(p.name for p in tmp_path.glob("*.unreadable")) == [
        "broken.unreadable",
        "old.unreadable",
    ]


def kept_state(session_id: str, **changed: object) -> dict[str, object]:
    """A spool file's state as a handle writes it, with ``changed`` replaced."""
    outbox = new_outbox(StartRequest("u", "app"))
    outbox.beat(2_000)
    outbox.end(3_000)
    kept = json.loads(json.dumps(outbox.kept()))
    kept["links"][0]["id"] = session_id
    kept.update(format=FORMAT, **changed)
    return kept


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00garbage\x80",  # not UTF-8
        json.dumps(kept_state("a", beats=[10**30])).encode(),  # no date
        json.dumps(kept_state("a", end_at=float("inf"))).encode(),  # Infinity
        json.dumps(kept_state("a", beats=[10**17])).encode(),  # the year 3 million
        json.dumps(kept_state("a", attributes=[1, 2])).encode(),
    ],
)
def test_a_file_the_client_cannot_send_is_set_aside_and_the_next_is_delivered(
    tmp_path: Path, content: bytes
) -> None:
    """deliver_spooled never raises for a bad file: it sets it aside and goes on with the
    files after it (they raised UnicodeDecodeError or OverflowError, or broke the thread
    that sends, and the good file after the bad one was never delivered)."""
    (tmp_path / "aa-bad.json").write_bytes(content)
    (tmp_path / "zz-good.json").write_text(json.dumps(kept_state("zz-good")))
    with Client("http://127.0.0.1:9", "sk_unused", spool=tmp_path, **FAST) as app:
        handles = app.deliver_spooled(wait=0)
        assert [h.id for h in handles] == ["zz-good"]
    assert [p.name for p in tmp_path.glob("*.unreadable")] == ["aa-bad.unreadable"]


# A live handle and its file


@pytest.fixture
def policies(client: Client) -> None:
    client.put_policy("app", heartbeat_interval_s=1, timeout_s=TIMEOUT_S, grace_s=GRACE_MS / 1000)


def test_a_file_exists_only_while_something_is_undelivered(
    client: Client, base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    down = threading.Event()
    network = Forwarding(fault=lambda r: refused(r) if down.is_set() else None)
    with (
        Client(base_url, tenant.ingest, transport=network.sync(), spool=tmp_path, **FAST) as app,
        app.session("u", "app", heartbeat_every=0.05) as s,
    ):
        wait_until(lambda: s.stored and len(network.delivered) > 5)
        assert spooled(tmp_path) == []  # nothing written while the server takes everything
        down.set()
        wait_until(lambda: s.pending >= 3 and spooled(tmp_path))
        # Another client on the same directory leaves a live handle's file alone.
        with Client(base_url, tenant.ingest, spool=tmp_path, **FAST) as other:
            assert other.deliver_spooled(wait=0) == ()
        state = json.loads(spooled(tmp_path)[0].read_text())
        assert state["links"][0]["id"] == s.id and len(state["beats"]) >= 1
        down.clear()
        wait_until(lambda: s.pending == 0 and not spooled(tmp_path), timeout=20)
    assert client.get(s.id).status is Status.ENDED
    assert spooled(tmp_path) == []


def test_beats_recorded_while_an_attempt_hangs_are_on_disk(
    client: Client, base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """An unreachable server that answers nothing holds an attempt for the client's whole
    timeout: what the ticker records meanwhile is written to the spool at once, so a crash
    costs about one interval (the file was written only after the attempt failed)."""
    hanging, network = hanging_network(5)
    with (
        Client(base_url, tenant.ingest, transport=network.sync(), spool=tmp_path, **FAST) as app,
        app.session("u", "app", heartbeat_every=0.2, drain_wait=0) as s,
    ):
        wait_until(lambda: s.stored)
        hanging.set()
        time.sleep(1.5)  # the first attempt hangs; beats are recorded beside it
        assert spooled(tmp_path), "nothing on disk while the attempt hangs"
        state = json.loads(spooled(tmp_path)[0].read_text())
        assert state["beats"] and now_ms() - max(state["beats"]) < 500
        hanging.clear()


# A crash during an outage


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("crash", ["inside the block", "after leaving"])
def test_a_crash_while_the_server_is_down_costs_no_time_once_the_app_runs_again(
    server: ServerProcess, tmp_path: Path, mode: str, crash: str
) -> None:
    key = server.admin_key()
    admin = Client(server.base_url, key, **FAST)
    admin.put_policy("app", heartbeat_interval_s=1, timeout_s=TIMEOUT_S, grace_s=GRACE_MS / 1000)
    spool = tmp_path / "spool"
    app = AppProcess(mode, server.base_url, key, "app", EVERY_S, spool=spool)
    try:
        session_id = app.session_id
        wait_until(lambda: admin.get(session_id).last_seen_at > admin.get(session_id).started_at)
        server.kill()
        down_at = now_ms()
        time.sleep(TIMEOUT_S * 1.5)  # the application goes on beating into its spool
        if crash == "after leaving":
            left_at = now_ms()
            app.ask_to_leave()
        time.sleep(0.5)  # a failed attempt or two after the last beat writes the file
        app.kill()  # SIGKILL: everything in its memory is gone
        killed_at = now_ms()
    finally:
        app.kill()
    assert [p.stem for p in spooled(spool)] == [session_id]

    server.start()  # same database, same port
    printed = deliver_spooled(mode, server.base_url, key, spool)
    assert printed == [{"ids": [session_id], "pending": 0}]
    assert spooled(spool) == []

    def closed() -> bool:
        admin.sweep()
        return not admin.get(session_id).is_active

    wait_until(closed, timeout=20)
    session = admin.get(session_id)
    assert session.ended_at is not None
    if crash == "after leaving":
        # The end recorded before the crash lands with its own time: a fact, not an estimate.
        assert (session.status, session.end_reason, session.estimated) == (
            Status.ENDED,
            EndReason.CLIENT,
            False,
        )
        assert left_at <= as_ms(session.ended_at) <= killed_at
    else:
        # The beats made while the server was down count; the end is estimated from the last.
        assert (session.status, session.estimated) == (Status.TIMED_OUT, True)
        assert as_ms(session.ended_at) == as_ms(session.last_seen_at) + GRACE_MS
        assert killed_at - 1_500 <= as_ms(session.last_seen_at) <= killed_at
    # Either way the time the server was down is credited, and it is one session.
    assert as_ms(session.ended_at) >= down_at + TIMEOUT_S * 1000
    assert admin.list(continues=session_id).items == ()
    admin.close()
