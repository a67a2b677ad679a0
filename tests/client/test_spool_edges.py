"""The client spool at its edges: a closed client, an exit before delivery, files left over,
files that cannot be used, a directory removed under a live handle, evidence older than the
server's window, a refused key, gaps, refusals and processes delivering at once. Each test
states a promise of the README section "A spool: what was not delivered outlives the
process". Loopback only; every wait is bounded.

Policy ``app``: heartbeats every second, a 2 s timeout, 0.5 s grace.
"""

from __future__ import annotations

import asyncio
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
from sessionkeeper.client.evidence import as_ms, now_ms
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
    file.sync(lambda: kept)
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
    client.session(...)``, left while the server is down. The sender's next attempt meets
    the closed client: that is no refusal of the session, and the file stays for the next
    start."""
    network = always_down()
    with (
        Client(base_url, tenant.ingest, transport=network.sync(), spool=tmp_path, **FAST) as app,
        app.session("u", "app", heartbeat_every=0.05, drain_wait=0.2) as s,
    ):
        wait_until(lambda: spooled(tmp_path) and s.pending >= 3)
    time.sleep(1.0)  # the app shuts down other things; the sender runs on meanwhile
    assert spooled(tmp_path), f"the spool file was removed (last_error={s.last_error!r})"


def test_closing_the_client_while_deliver_spooled_goes_on_keeps_the_file(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """``deliver_spooled``: "what is still undelivered goes on in the background and stays on
    disk for the next start", also when that start closes its client before the server is
    back."""
    t0 = now_ms() - 3_000
    path = write_spool_file(tmp_path, crashed_outbox("spooled-closed", t0, [t0 + 500, t0 + 1_000]))
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
    async with (
        AsyncClient(
            base_url, tenant.ingest, transport=network.async_(), spool=tmp_path, **FAST
        ) as app,
        app.session("u", "app", heartbeat_every=0.05, drain_wait=0.2) as s,
    ):
        await await_until(lambda: spooled(tmp_path) and s.pending >= 3)
    await asyncio.sleep(1.0)
    assert spooled(tmp_path), f"the spool file was removed (last_error={s.last_error!r})"


# The end recorded before the process exits


def test_an_end_recorded_before_a_normal_exit_is_in_the_spool(tmp_path: Path) -> None:
    """The app leaves its block while the server is down and exits normally, while its
    sender sleeps out a long backoff. Leaving writes what is undelivered once ``drain_wait``
    runs out, so the recorded end is in the spool ("the end, if one was recorded" is
    delivered)."""
    spool = tmp_path / "spool"
    script = textwrap.dedent(
        f"""
        from sessionkeeper.client import Client
        url, spool = "http://127.0.0.1:{closed_port()}", {str(spool)!r}
        with Client(url, "sk_x", backoff=40, spool=spool) as c:
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
    """Once everything is delivered nothing is left in the directory: not the file, not its
    lock file, whether a live handle or a later process delivered it."""
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
    write_spool_file(tmp_path, crashed_outbox("spooled-left", t0, [t0 + 500]))
    with Client(base_url, tenant.ingest, spool=tmp_path, **FAST) as later:
        (handle,) = later.deliver_spooled(wait=10)
        assert handle.pending == 0
    wait_until(lambda: not spooled(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# A file that cannot be used


def test_a_spool_file_of_the_right_format_but_wrong_shape_is_set_aside(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """A file of the right format whose content is not a handle's state is set aside like an
    unreadable one; ``deliver_spooled`` does not raise, and the files after it are
    delivered."""
    (tmp_path / "a-bad.json").write_text(json.dumps({"format": 1, "start": {}}))
    t0 = now_ms() - 2_000
    write_spool_file(tmp_path, crashed_outbox("b-good", t0, [t0 + 500]))
    with Client(base_url, tenant.ingest, spool=tmp_path, **FAST) as app:
        handles = app.deliver_spooled(wait=10)
    assert [h.id for h in handles] == ["b-good"]
    assert (tmp_path / "a-bad.unreadable").exists()


# What the spool cannot encode must not kill the sender


def test_attributes_json_cannot_carry_are_refused_at_the_call_and_delivery_goes_on(
    client: Client, base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """Attributes JSON cannot carry (a datetime) are the caller's mistake: refused where it
    is made, by ``heartbeat(attributes=...)`` and by ``session(attributes=...)``, never from
    the background, where they would stop the session (or the spool's writes) instead."""
    down = threading.Event()
    down.set()
    network = Forwarding(fault=lambda r: refused(r) if down.is_set() else None)
    with (
        Client(base_url, tenant.ingest, transport=network.sync(), spool=tmp_path, **FAST) as app,
        app.session("u", "app", heartbeat_every=0.05, drain_wait=5) as s,
    ):
        with pytest.raises(TypeError):
            app.session("u", "app", attributes={"when": datetime.now(UTC)})
        wait_until(lambda: spooled(tmp_path))
        with pytest.raises(TypeError):
            s.heartbeat(attributes={"when": datetime.now(UTC)})
        s.heartbeat(attributes={"when": "today"})
        down.clear()
        wait_until(lambda: s.stored and s.pending == 0, timeout=10)
    assert client.get(s.id).attributes == {"when": "today"}
    assert not spooled(tmp_path)


# The lock protects a live handle's file only while its lock file is the one in the directory


def test_a_live_handles_file_is_not_delivered_after_the_directory_was_recreated(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """The spool directory is removed (a cleanup job, ``rm -rf``) while a handle holds its
    lock, and made again (any ``Client(spool=...)`` does ``mkdir``). The handle's lock is on
    a lock file no longer there: it takes a new one before it writes again, so another client
    never delivers the live handle's file."""
    spool = tmp_path / "spool"
    network = always_down()
    with (
        Client(base_url, tenant.ingest, transport=network.sync(), spool=spool, **FAST) as app,
        app.session("u", "app", heartbeat_every=0.05, drain_wait=0.2),
    ):
        wait_until(lambda: spooled(spool))
        shutil.rmtree(spool)
        with Client(base_url, tenant.ingest, spool=spool, **FAST) as other:
            wait_until(lambda: spooled(spool))  # the live handle wrote its file again
            taken = other.deliver_spooled(wait=0.5)
            assert [h.id for h in taken] == [], "another client delivered a live handle's file"


# Evidence older than the server's window


def test_a_spool_older_than_the_servers_window_makes_no_session_now(
    client: Client, base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """A crash during an outage on Friday, the app started again on Monday: every piece of
    evidence is older than MAX_PAST (24 h). A live handle starts such a session now (its
    process is running: now is evidence); a spooled one's process is long gone, so it is
    given up, not made into a session nobody had."""
    t0 = now_ms() - 25 * 3600 * 1000
    write_spool_file(tmp_path, crashed_outbox("spooled-old", t0, [t0 + 500, t0 + 1_000]))
    with Client(base_url, tenant.ingest, spool=tmp_path, **FAST) as app:
        (handle,) = app.deliver_spooled(wait=5)
        assert handle.pending == 0
    assert not spooled(tmp_path)
    delivered_at = datetime.now(UTC)
    made = client.list(user_id="u").items
    assert made == (), [(m.started_at, m.status, delivered_at) for m in made]


# A key the server does not know


def test_deliver_spooled_with_a_wrong_key_keeps_the_files(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    """A 401 refuses the key, not the session: an app started again with a wrong or rotated
    key keeps every spooled file for a start with the right one."""
    t0 = now_ms() - 3_000
    path = write_spool_file(tmp_path, crashed_outbox("spooled-key", t0, [t0 + 500]))
    with Client(base_url, "sk_not_a_key", spool=tmp_path, **FAST) as app:
        (handle,) = app.deliver_spooled(wait=5)
        assert handle.pending == 0, handle.last_error
    assert path.exists(), f"a wrong API key deleted the evidence ({handle.last_error!r})"


# Gaps, refusals, processes at once


def test_a_real_gap_inside_spooled_beats_makes_a_continuation(
    client: Client, base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    t0 = now_ms() - 30_000
    before = [t0 + 500 * i for i in range(1, 5)]
    after = [t0 + 12_000 + 500 * i for i in range(5)]
    write_spool_file(tmp_path, crashed_outbox("spooled-gap", t0, before + after))
    with Client(base_url, tenant.ingest, spool=tmp_path, **FAST) as app:
        (handle,) = app.deliver_spooled(wait=10)
        assert handle.pending == 0
        first, second = handle.sessions
    assert second.continues == first.id == "spooled-gap"
    assert not spooled(tmp_path)
    stored_first, stored_second = client.get(first.id), client.get(second.id)
    assert as_ms(stored_first.started_at) == t0
    assert as_ms(stored_first.last_seen_at) == before[-1]
    assert as_ms(stored_second.started_at) == after[0]
    assert as_ms(stored_second.last_seen_at) == after[-1]


def test_a_refused_resumed_session_leaves_no_file(
    base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    t0 = now_ms() - 3_000
    write_spool_file(tmp_path, crashed_outbox("spooled-refused", t0, [t0 + 500]))
    network = Forwarding(fault=lambda r: problem(422, "Invalid input"))
    with Client(base_url, tenant.ingest, transport=network.sync(), spool=tmp_path, **FAST) as app:
        (handle,) = app.deliver_spooled(wait=5)
        assert handle.pending == 0
    assert not spooled(tmp_path)


def test_two_processes_delivering_at_once_deliver_each_file_once(
    client: Client, base_url: str, tenant: Tenant, policies: None, tmp_path: Path
) -> None:
    t0 = now_ms() - 5_000
    ids = [f"spooled-race-{i}" for i in range(8)]
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
