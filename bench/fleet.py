"""Accuracy of a fleet of SDK applications through crashes, network drops, a killed server and
a database outage: how much of their true time the record keeps.

200 applications (asyncio tasks in this process) each hold ``async with client.session(...)``
for 40-80 s on a policy of heartbeat 2 s, timeout 6 s, grace 1 s, against a real server
process on PostgreSQL reached through a TCP proxy. Faults, all injected from outside the
server's code:

- 30% of the applications lose their network once or twice for 3-14 s (their transport
  raises a connection error), longer than the timeout in most cases;
- 15% crash: at a random moment the application dies (its tasks are cancelled, its memory
  is gone, it never leaves its block) and is run again 3-20 s later, when its client
  delivers what the crashed one had kept in its spool (``deliver_spooled``), if anything;
- the server is SIGKILLed 25 s in and kept down 8 s (longer than the timeout), then restarted
  on the same port;
- the database is black-holed (packets dropped, not refused) for 10 s, 50 s in.

A transport writes down every 2xx answer (``tests/ledger.py``). Reported, against the true
time each application measured itself (no application stalls here, so the observable true
time is the true time):

- captured time: the sum of the durations of every session the applications made (their
  continuations included) over the sum of their true times; goal ≥ 0.995;
- crashed applications: the mean absolute error of the recorded end against the crash, over
  its floor — the same error of the grace rule applied to the last heartbeat the server
  acknowledged (what no server could do better without more evidence); goal ≤ 1.05;
- sessions lost (an application with no stored session, an acknowledged write missing),
  sessions left open after the last timeout, and applications that did not crash but have a
  session that timed out: goal 0 each.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import httpx
from tests.faults import proxied_postgres
from tests.ledger import Ledger, as_stored, lost
from tests.processes import Servers

from bench.config import RunConfig
from bench.databases import database, postgres_available
from bench.report import Case, Outcome
from sessionkeeper.client import AsyncClient, AsyncSessionHandle, Client, Session

NAME = "fleet"
HEARTBEAT_S, TIMEOUT_S, GRACE_S = 2.0, 6.0, 1.0
KILL_AT_S, KILLED_FOR_S = 25.0, 8.0
OUTAGE_AT_S, OUTAGE_FOR_S = 50.0, 10.0


@dataclass
class Plan:
    """What happens to one application, in seconds from the start of the run."""

    n: int
    starts_at: float
    leaves_at: float
    drops: list[tuple[float, float]] = field(default_factory=list)
    crashes_at: float | None = None
    relaunches_after: float = 0.0


@dataclass
class Truth:
    began_ms: int = 0
    ended_ms: int = 0
    session_ids: tuple[str, ...] = ()
    pending: int = 0
    spooled: int = 0  # handles a relaunched application found in its spool


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def plans(count: int, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    result = []
    for n in range(count):
        starts = rng.uniform(0, 10)
        plan = Plan(n, starts, starts + rng.uniform(40, 80))
        roll = rng.random()
        if roll < 0.30:
            for _ in range(rng.choice([1, 2])):
                begin = rng.uniform(plan.starts_at + 2, plan.leaves_at - 16)
                plan.drops.append((begin, begin + rng.uniform(3, 14)))
        elif roll < 0.45:
            plan.crashes_at = rng.uniform(plan.starts_at + 5, plan.leaves_at)
            plan.relaunches_after = rng.uniform(3, 20)
        result.append(plan)
    return result


class Faulty(httpx.AsyncBaseTransport):
    """The real transport, unless the application's network is down or it has crashed;
    every answer is written into the ledger."""

    def __init__(self, ledger: Ledger, plan: Plan, t0: float) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.ledger, self.plan, self.t0 = ledger, plan, t0

    def _cut(self) -> bool:
        elapsed = time.monotonic() - self.t0
        crashed = self.plan.crashes_at is not None and elapsed >= self.plan.crashes_at
        return crashed or any(a <= elapsed < b for a, b in self.plan.drops)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._cut():
            raise httpx.ConnectError("injected: no network", request=request)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if not self._cut():  # a crashed application never learns the answer
            self.ledger.record(request, response)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def crash(handle: AsyncSessionHandle) -> None:
    """What a process's death does to a handle: its tasks stop where they are, and the OS
    lets go of its spool file's lock. (The handle's internals: the fleet's applications
    share one process, so their deaths are simulated.)"""
    for task in (handle._ticker, handle._sender):
        if task is not None:
            task.cancel()
    if handle._spool_file is not None:
        handle._spool_file.release()


def client_of(base_url: str, key: str, transport: Faulty, spool: Path) -> AsyncClient:
    return AsyncClient(
        base_url, key, timeout=3, retries=1, backoff=0.1, transport=transport, spool=spool
    )


async def application(
    base_url: str, key: str, plan: Plan, t0: float, ledger: Ledger, truth: Truth, spool: Path
) -> None:
    await asyncio.sleep(max(0.0, t0 + plan.starts_at - time.monotonic()))
    client = client_of(base_url, key, Faulty(ledger, plan, t0), spool)
    handle = client.session(f"user-{plan.n}", "app", drain_wait=90)
    truth.began_ms = now_ms()
    await handle.__aenter__()
    truth.session_ids = tuple(s.id for s in handle.sessions)
    if plan.crashes_at is not None:
        await asyncio.sleep(max(0.0, t0 + plan.crashes_at - time.monotonic()))
        truth.ended_ms = now_ms()
        crash(handle)
        truth.session_ids = tuple(s.id for s in handle.sessions)
        await asyncio.sleep(plan.relaunches_after)
        # Run again: a new client on the same spool delivers what the dead one kept.
        again = replace(plan, crashes_at=None, drops=[])
        relaunched = client_of(base_url, key, Faulty(ledger, again, t0), spool)
        for resumed in await relaunched.deliver_spooled(wait=120):
            truth.spooled += 1
            truth.pending += resumed.pending
            known = set(truth.session_ids)
            truth.session_ids += tuple(s.id for s in resumed.sessions if s.id not in known)
        await relaunched.aclose()
        return
    await asyncio.sleep(max(0.0, t0 + plan.leaves_at - time.monotonic()))
    truth.ended_ms = now_ms()
    await handle.__aexit__(None, None, None)
    truth.session_ids = tuple(s.id for s in handle.sessions)
    truth.pending = handle.pending
    await client.aclose()


def _ms(moment: datetime | None) -> int:
    assert moment is not None
    return round(moment.timestamp() * 1000)


async def _run_fleet(url: str, count: int, seed: int) -> dict[str, object]:
    ledger = Ledger()
    fleet = plans(count, seed)
    truths = [Truth() for _ in fleet]
    tmp = Path(tempfile.mkdtemp(prefix="sk-bench-fleet-"))
    with proxied_postgres(url) as (proxy, proxied):
        servers = Servers(tmp, proxied, sweep_interval_s="1", alive_interval_s="1")
        try:
            server = await servers.start()
            port = int(server.base_url.rsplit(":", 1)[1])
            key = servers.bootstrap_key(server)
            with Client(server.base_url, key) as admin:
                admin.put_policy(
                    "*", heartbeat_interval_s=HEARTBEAT_S, timeout_s=TIMEOUT_S, grace_s=GRACE_S
                )
            t0 = time.monotonic()
            tasks = [
                asyncio.create_task(
                    application(server.base_url, key, p, t0, ledger, truth, tmp / f"spool-{p.n}")
                )
                for p, truth in zip(fleet, truths, strict=True)
            ]
            await asyncio.sleep(KILL_AT_S)
            server.kill()
            await asyncio.sleep(KILLED_FOR_S)
            server = await servers.start(port=port)
            await asyncio.sleep(max(0.0, t0 + OUTAGE_AT_S - time.monotonic()))
            proxy.set("blackhole")
            await asyncio.sleep(OUTAGE_FOR_S)
            proxy.set("pass")
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)
            await asyncio.sleep(TIMEOUT_S + GRACE_S + 2)  # the crashed ones time out
            with Client(server.base_url, key) as admin:
                admin.sweep()
                stored = {s.id: s for s in admin.iter_sessions()}
        finally:
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()
            servers.stop_all()
    return _figures(fleet, truths, stored, ledger)


def _figures(
    fleet: list[Plan], truths: list[Truth], stored: dict[str, Session], ledger: Ledger
) -> dict[str, object]:
    true_ms = captured_ms = 0
    # The same for the applications that did not crash: what the crashed ones lose is the
    # estimate's own error, bounded below by the floor reported apart.
    whole_true_ms = whole_captured_ms = 0
    errors, floors = [], []
    lost_apps = wrongly_timed_out = 0
    for plan, truth in zip(fleet, truths, strict=True):
        mine = [stored[sid] for sid in truth.session_ids if sid in stored]
        if not mine:
            lost_apps += 1
            continue
        captured = sum(_ms(s.ended_at) - _ms(s.started_at) for s in mine if s.ended_at is not None)
        true_ms += truth.ended_ms - truth.began_ms
        captured_ms += captured
        if plan.crashes_at is None:
            whole_true_ms += truth.ended_ms - truth.began_ms
            whole_captured_ms += captured
            wrongly_timed_out += sum(s.status.value == "timed_out" for s in mine)
            continue
        last = mine[-1]
        if last.ended_at is not None:
            errors.append(abs(_ms(last.ended_at) - truth.ended_ms))
            acknowledged = max(ledger.beats.get(s.id, _ms(s.started_at)) for s in mine)
            floors.append(abs(acknowledged + GRACE_S * 1000 - truth.ended_ms))
    return {
        "applications": len(fleet),
        "crashed": sum(p.crashes_at is not None for p in fleet),
        "with_drops": sum(bool(p.drops) for p in fleet),
        "true_s": true_ms / 1000,
        "captured_s": captured_ms / 1000,
        "true_s_without_crashes": whole_true_ms / 1000,
        "captured_s_without_crashes": whole_captured_ms / 1000,
        "crash_error_ms": statistics.mean(errors) if errors else 0.0,
        "crash_floor_ms": statistics.mean(floors) if floors else 0.0,
        "lost_applications": lost_apps,
        "lost_writes": len(lost(ledger, as_stored(stored.values()))),
        "left_open": sum(s.status.value == "active" for s in stored.values()),
        "wrongly_timed_out": wrongly_timed_out,
        "continuations": sum(s.continues is not None for s in stored.values()),
        "never_delivered": sum(t.pending for t in truths),
        "delivered_from_spool": sum(t.spooled for t in truths),
        "sessions": len(stored),
    }


def run(config: RunConfig) -> Outcome:
    count = 200  # the fleet is the point: --quick does not shrink it
    outcome = Outcome(
        NAME,
        settings={
            "backend": "postgresql (through a TCP proxy)",
            "applications": count,
            "policy": {"heartbeat_s": HEARTBEAT_S, "timeout_s": TIMEOUT_S, "grace_s": GRACE_S},
            "server_killed": {"at_s": KILL_AT_S, "down_s": KILLED_FOR_S},
            "database_black_holed": {"at_s": OUTAGE_AT_S, "for_s": OUTAGE_FOR_S},
        },
    )
    if "postgresql" not in config.backends or not postgres_available():
        outcome.skipped.append("fleet: PostgreSQL is not reachable (or --sqlite-only)")
        return outcome
    with database("postgresql") as url:
        figures = asyncio.run(_run_fleet(url, count, seed=20261130))
    captured, true = float(figures["captured_s"]), float(figures["true_s"])  # type: ignore[arg-type]
    error, floor = float(figures["crash_error_ms"]), float(figures["crash_floor_ms"])  # type: ignore[arg-type]
    whole = float(figures["captured_s_without_crashes"])  # type: ignore[arg-type]
    whole_true = float(figures["true_s_without_crashes"])  # type: ignore[arg-type]
    zeros = ("lost_applications", "lost_writes", "left_open", "wrongly_timed_out")
    bad = {name: figures[name] for name in zeros}
    outcome.cases += [
        Case(
            name=f"fleet of {count} SDK apps: captured / true time (PostgreSQL)",
            measured=captured,
            baseline=true,
            unit="s",
            goal="ratio ≥ 0.995",
            met=captured / true >= 0.995 if true else None,
            note="crashes, network drops, a SIGKILLed server, a 10 s black-holed database",
            raw=figures,
        ),
        Case(
            name="the same, apps that did not crash",
            measured=whole,
            baseline=whole_true,
            unit="s",
            goal="ratio ≥ 0.995",
            met=whole / whole_true >= 0.995 if whole_true else None,
            note="network drops, the killed server and the outage, no crash",
        ),
        Case(
            name="crashed apps: mean |recorded end - crash| / its floor",
            measured=error,
            baseline=floor,
            unit="ms",
            goal="ratio ≤ 1.05",
            met=error / floor <= 1.05 if floor else None,
            note="floor: the grace rule on the last heartbeat the server acknowledged",
        ),
        Case(
            name="sessions lost, left open, wrongly timed out",
            measured=float(sum(int(v) for v in bad.values())),  # type: ignore[call-overload]
            baseline=0.0,
            unit="sessions",
            goal="0",
            met=not any(bad.values()),
            note=", ".join(f"{k} {v}" for k, v in bad.items()),
        ),
    ]
    return outcome
