"""Hostile tests of the client spool: each test here states a promise of the README section
"A spool: what was not delivered outlives the process" (or of the spool module) and tries to
break it. Loopback only; every wait is bounded.

Policy ``app``: heartbeats every second, a 2 s timeout, 0.5 s grace.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sessionkeeper.client import AsyncClient, Client
from sessionkeeper.client.chain import StartRequest
from sessionkeeper.client.evidence import now_ms
from sessionkeeper.client.outbox import Outbox
from sessionkeeper.client.spool import Spool
from tests.client.live import FAST, Forwarding, Tenant, await_until, problem, wait_until
from tests.client.processes import ROOT
from tests.client.test_offline_handle import refused

pytestmark = pytest.mark.timeout(60)

TIMEOUT_S = 2.0


def spooled(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))


@pytest.fixture
def policies(client: Client) -> None:
    client.put_policy("app", heartbeat_interval_s=1, timeout_s=TIMEOUT_S, grace_s=0.5)


def always_down() -> Forwarding:
    return Forwarding(fault=refused)


def write_spool_file(directory: Path, outbox: Outbox) -> Path:
    """What a crashed process would have left: the outbox's state, written by the spool."""
    kept = outbox.kept()
    assert kept is not None
    file = Spool(directory).file(outbox.links[0].id)
    file.write(kept)
    file.release()  # the process that held it is gone
    return file.path


def crashed_outbox(session_id: str, started_at: int, beats: list[int]) -> Outbox:
    outbox = Outbox(
        StartRequest("u", "app"),
        id=session_id,
        started_at=started_at,
        heartbeat_every=0.5,
        continue_after_gap=True,
        max_pending=1_000,
        backoff=0.01,
    )
    for at in beats:
        outbox.beat(at)
    return outbox


def closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


# Closing the client is not a refusal of the session


def test_closing_the_client_during_an_outage_keeps_the_spool(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """The README's own pattern: ``with Client(..., spool=...)`` around ``with
    client.session(...)``. The server is down when the app leaves both blocks; the handle's
    sender goes on in the background, its next attempt meets the closed client
    (RuntimeError, not transient), the outbox stops as if the session were refused, and
    ``_spool_after`` removes the file: the outage's time is lost for good."""
    network = always_down()
    with Client(base_url, tenant.ingest, transport=network.sync(), spool=tmp_path, **FAST) as app:
        with app.session("u", "app", heartbeat_every=0.05, drain_wait=0.2) as s:
            wait_until(lambda: spooled(tmp_path) and s.pending >= 3)
    time.sleep(1.0)  # the app shuts down other things; the sender runs on meanwhile
    assert spooled(tmp_path), f"the spool file was removed (last_error={s.last_error!r})"


def test_closing_the_client_while_deliver_spooled_goes_on_keeps_the_file(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """``deliver_spooled``: "what is still undelivered goes on in the background and stays on
    disk for the next start". A start while the server is still down that closes its client
    deletes the earlier crash's evidence instead."""
    t0 = now_ms() - 3_000
    path = write_spool_file(tmp_path, crashed_outbox("hostile-closed", t0, [t0 + 500, t0 + 1_000]))
    network = always_down()
    with Client(base_url, tenant.ingest, transport=network.sync(), spool=tmp_path, **FAST) as app:
        (handle,) = app.deliver_spooled(wait=0.2)
        assert handle.pending == 3
    time.sleep(1.0)
    assert path.exists(), f"the spooled evidence was deleted ({handle.last_error!r})"


async def test_closing_the_async_client_during_an_outage_keeps_the_spool(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    network = always_down()
    async with AsyncClient(
        base_url, tenant.ingest, transport=network.async_(), spool=tmp_path, **FAST
    ) as app:
        async with app.session("u", "app", heartbeat_every=0.05, drain_wait=0.2) as s:
            await await_until(lambda: spooled(tmp_path) and s.pending >= 3)
    await asyncio_sleep(1.0)
    assert spooled(tmp_path), f"the spool file was removed (last_error={s.last_error!r})"


async def asyncio_sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


# The end recorded before the process exits


def test_an_end_recorded_before_a_normal_exit_is_in_the_spool(tmp_path: Path) -> None:
    """The app leaves its block while the server is down and exits normally. The end was
    recorded ("the end, if one was recorded" is delivered), but leaving does not write the
    spool: only the sender does, after its next attempt, and it sleeps in ``time.sleep`` for
    the backoff (up to a heartbeat interval, here 10-20 s) and is not woken by the end. The
    default drain_wait (5 s) runs out first, the process exits, the file has no end."""
    spool = tmp_path / "spool"
    script = textwrap.dedent(
        f"""
        from sessionkeeper.client import Client
        with Client("http://127.0.0.1:{closed_port()}", "sk_x", backoff=40, spool={str(spool)!r}) as c:
            with c.session("u", "app", heartbeat_every=30) as s:
                pass
            print(s.id, s.pending, flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=40, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    session_id, pending = done.stdout.decode().split()
    assert pending == "2"  # the start and the end were recorded, neither delivered
    (path,) = spooled(spool)
    state = json.loads(path.read_text())
    assert state["links"][0]["id"] == session_id
    assert state["end_at"] is not None, "the recorded end never reached the spool"


# Files left behind


def test_nothing_is_left_in_the_directory_once_everything_is_delivered(
    client: Client, base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """A file "is removed once everything is delivered"; its lock file is not: filelock
    leaves ``<id>.lock`` in place on release, and nothing removes it. Every session that ever
    met a failed send leaves one file in the directory forever."""
    down = threading.Event()
    down.set()
    network = Forwarding(fault=lambda r: refused(r) if down.is_set() else None)
    with (
        Client(base_url, tenant.ingest, transport=network.sync(), spool=tmp_path, **FAST) as app,
        app.session("u", "app", heartbeat_every=0.05) as s,
    ):
        wait_until(lambda: spooled(tmp_path))
        down.clear()
        wait_until(lambda: s.pending == 0 and not spooled(tmp_path), timeout=20)
    # And a crash's file delivered by a later process.
    t0 = now_ms() - 2_000
    write_spool_file(tmp_path, crashed_outbox("hostile-left", t0, [t0 + 500]))
    with Client(base_url, tenant.ingest, spool=tmp_path, **FAST) as later:
        (handle,) = later.deliver_spooled(wait=10)
        assert handle.pending == 0
    wait_until(lambda: not spooled(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# A file that cannot be used


def test_a_spool_file_of_the_right_format_but_wrong_shape_is_set_aside(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """``read`` checks only that the JSON is an object with ``format`` 1; ``Outbox.restored``
    then raises KeyError out of ``deliver_spooled`` (documented: "never raises for a
    transport failure", and an unreadable file is set aside). The bad file stays, so every
    later start raises again, and files sorted after it are never delivered."""
    (tmp_path / "a-bad.json").write_text(json.dumps({"format": 1, "start": {}}))
    t0 = now_ms() - 2_000
    write_spool_file(tmp_path, crashed_outbox("b-good", t0, [t0 + 500]))
    with Client(base_url, tenant.ingest, spool=tmp_path, **FAST) as app:
        handles = app.deliver_spooled(wait=10)  # observed: KeyError: 'user_id'
    assert [h.id for h in handles] == ["b-good"]
    assert (tmp_path / "a-bad.unreadable").exists()


# What the spool cannot encode must not kill the sender


def test_attributes_the_spool_cannot_encode_do_not_stop_delivery(
    client: Client, base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """``SpoolFile.write`` catches only OSError. ``heartbeat(attributes=...)`` with a value
    ``json.dumps`` cannot encode (a datetime), during an outage: the next failed attempt
    writes the spool, ``json.dumps`` raises TypeError out of ``_spool_after``, and the sender
    thread dies. Nothing is ever delivered again, not even the start that came before the
    attributes, though the server is back; nothing is on disk either. (Without a spool the
    start is delivered once the server is back, and the beat carrying the datetime stops the
    handle with the TypeError as its refusal: the app is told.)"""
    down = threading.Event()
    down.set()
    network = Forwarding(fault=lambda r: refused(r) if down.is_set() else None)
    with (
        Client(base_url, tenant.ingest, transport=network.sync(), spool=tmp_path, **FAST) as app,
        app.session("u", "app", heartbeat_every=0.05, drain_wait=0.5) as s,
    ):
        s.heartbeat(attributes={"when": datetime.now(UTC)})  # answer_wait: 2 s
        down.clear()
        wait_until(lambda: s.stored, timeout=5)


# The lock protects a live handle's file only while its lock file is the one in the directory


def test_a_live_handles_file_is_not_delivered_after_the_directory_was_recreated(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """The spool directory is removed (a cleanup job, ``rm -rf``) while a handle holds its
    lock, and made again (any ``Client(spool=...)`` does ``mkdir``). The handle keeps writing
    ``<id>.json`` into the new directory while its lock is on the unlinked old ``<id>.lock``;
    another client takes a fresh ``<id>.lock`` and delivers the live handle's file."""
    spool = tmp_path / "spool"
    network = always_down()
    with (
        Client(base_url, tenant.ingest, transport=network.sync(), spool=spool, **FAST) as app,
        app.session("u", "app", heartbeat_every=0.05, drain_wait=0.2) as s,
    ):
        wait_until(lambda: spooled(spool))
        shutil.rmtree(spool)
        with Client(base_url, tenant.ingest, spool=spool, **FAST) as other:
            wait_until(lambda: spooled(spool))  # the live handle wrote its file again
            taken = other.deliver_spooled(wait=0.5)
            assert [h.id for h in taken] == [], "another client delivered a live handle's file"


# Probes (kept only if they add coverage)


def test_a_real_gap_inside_spooled_beats_makes_a_continuation(
    client: Client, base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    t0 = now_ms() - 30_000
    before = [t0 + 500 * i for i in range(1, 5)]
    after = [t0 + 12_000 + 500 * i for i in range(5)]
    write_spool_file(tmp_path, crashed_outbox("hostile-gap", t0, before + after))
    with Client(base_url, tenant.ingest, spool=tmp_path, **FAST) as app:
        (handle,) = app.deliver_spooled(wait=10)
        assert handle.pending == 0
        first, second = handle.sessions
    assert second.continues == first.id == "hostile-gap"
    assert not spooled(tmp_path)
    stored_first, stored_second = client.get(first.id), client.get(second.id)
    from sessionkeeper.client.evidence import as_ms

    assert as_ms(stored_first.started_at) == t0
    assert as_ms(stored_first.last_seen_at) == before[-1]
    assert as_ms(stored_second.started_at) == after[0]
    assert as_ms(stored_second.last_seen_at) == after[-1]


def test_a_refused_resumed_session_leaves_no_file(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    t0 = now_ms() - 3_000
    write_spool_file(tmp_path, crashed_outbox("hostile-refused", t0, [t0 + 500]))
    network = Forwarding(fault=lambda r: problem(422, "Invalid input"))
    with Client(base_url, tenant.ingest, transport=network.sync(), spool=tmp_path, **FAST) as app:
        (handle,) = app.deliver_spooled(wait=5)
        assert handle.pending == 0
    assert not spooled(tmp_path)


def test_deliver_spooled_with_a_wrong_key_keeps_the_files(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    t0 = now_ms() - 3_000
    path = write_spool_file(tmp_path, crashed_outbox("hostile-key", t0, [t0 + 500]))
    with Client(base_url, "sk_not_a_key", spool=tmp_path, **FAST) as app:
        (handle,) = app.deliver_spooled(wait=5)
        assert handle.pending == 0, handle.last_error
    assert path.exists(), f"a wrong API key deleted the evidence ({handle.last_error!r})"


def test_two_processes_delivering_at_once_deliver_each_file_once(
    client: Client, base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    t0 = now_ms() - 5_000
    ids = [f"hostile-race-{i}" for i in range(8)]
    for session_id in ids:
        write_spool_file(tmp_path, crashed_outbox(session_id, t0, [t0 + 500, t0 + 1_000]))
    command = ["-m", "tests.client.app_process", "deliver-sync", base_url, tenant.ingest]
    procs = [
        subprocess.Popen(
            [sys.executable, *command, str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=40) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode() for o in outputs]
    printed = [json.loads(line) for out, _ in outputs for line in out.decode().splitlines()]
    assert sorted(i for item in printed for i in item["ids"]) == ids
    assert all(item["pending"] == 0 for item in printed)
    assert not spooled(tmp_path)
