"""4. Peak RSS of the server process while it comes to hold 100,000, then 1,000,000 active
sessions: bytes per active session, and whether they grow with the sessions held.

For each size the server starts on an empty SQLite database; its RSS once idle is the
baseline. Then the sessions are started through the server itself (presence snapshots of
10,000 entries, one source each), every one of them is heartbeated once through
``POST /v1/heartbeats`` and the session health is read. The peak is the kernel's high-water
mark of the process's RSS (``VmHWM``), cross-checked by sampling every 20 ms. Nothing of a
session is kept in the process beyond bounded caches, so the retained bytes per session fall
as the sessions grow; the last row compares the peaks of the two sizes.
"""

from __future__ import annotations

import threading
import time

import httpx

from bench.config import RunConfig
from bench.databases import database, postgres_available
from bench.populate import count_sessions, prepare
from bench.report import Case, Outcome
from bench.server import Server, running_server
from sessionkeeper.config import Settings
from sessionkeeper.domain.principal import Scope
from sessionkeeper.storage.engine import READER_CACHE_KIB, WRITER_CACHE_KIB

NAME = "memory"
SNAPSHOT = 10_000
BATCH = 1000
MIB = 1024 * 1024
RETRIES = 20


class Sampler:
    """The largest RSS seen while the ``with`` block runs."""

    def __init__(self, server: Server, interval_s: float = 0.02) -> None:
        self.server = server
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.rss_bytes())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def patiently(client: httpx.Client, method: str, path: str, body: object) -> httpx.Response:
    """The request, sent again after the ``Retry-After`` of a 503 as a client would: a busy
    writer refuses rather than queueing without bound."""
    for _ in range(RETRIES):
        response = client.request(method, path, json=body)
        if response.status_code != 503:
            break
        time.sleep(float(response.headers.get("Retry-After", "1")))
    response.raise_for_status()
    return response


def load_sessions(client: httpx.Client, total: int) -> list[str]:
    # Loading a million sessions takes minutes: a long timeout keeps every one of them active
    # until the end, so the heartbeats below are the common kind that only moves a deadline.
    patiently(client, "PUT", "/v1/policies/game", {"timeout_s": 86_400.0})
    ids: list[str] = []
    for source in range(total // SNAPSHOT):
        entries = [
            {"user_id": f"user-{source}-{i}", "kind": "game", "label": "Minecraft"}
            for i in range(SNAPSHOT)
        ]
        response = patiently(client, "PUT", f"/v1/presence/src-{source}", entries)
        ids.extend(response.json()["started"])
    for i in range(0, len(ids), BATCH):
        beats = [{"session_id": sid} for sid in ids[i : i + BATCH]]
        patiently(client, "POST", "/v1/heartbeats", {"heartbeats": beats})
    client.get("/v1/health").raise_for_status()
    return ids


def measure(total: int, backend: str) -> dict[str, float | int | None]:
    """Load ``total`` sessions through a fresh server; its RSS before, at the peak, after."""
    with database(backend) as url:
        tenant = prepare(url, Scope.ADMIN)  # health needs the read scope
        with running_server(url) as server:
            headers = {"Authorization": f"Bearer {tenant.key}"}
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=300) as client:
                client.get("/healthz").raise_for_status()
                time.sleep(1.0)
                idle = server.rss_bytes()
                began = time.perf_counter()
                with Sampler(server) as sampler:
                    ids = load_sessions(client, total)
                elapsed = time.perf_counter() - began
                holding = server.rss_bytes()
                high_water = server.peak_rss_bytes()
        active = count_sessions(url)
    return {
        "idle_rss": idle,
        "peak_rss_vmhwm": high_water,
        "peak_rss_sampled": sampler.peak,
        "peak_rss": max(high_water or 0, sampler.peak),
        "rss_after_load": holding,
        "sessions_started": len(ids),
        "active_in_database": active,
        "load_seconds": elapsed,
    }


def run(config: RunConfig) -> Outcome:
    sizes = (config.size(100_000, 20_000), config.size(1_000_000, 100_000))
    outcome = Outcome(
        NAME,
        settings={
            "sessions": sizes,
            "snapshot": SNAPSHOT,
            "batch": BATCH,
            "sqlite_page_cache_bound_mib": sqlite_cache_bound_mib(),
        },
    )
    for backend in config.backends:
        if backend == "postgresql" and not postgres_available():
            outcome.skipped.append("PostgreSQL not reachable")
            continue
        add_cases(outcome, sizes, {total: measure(total, backend) for total in sizes}, backend)
    return outcome


def sqlite_cache_bound_mib() -> float:
    """The most the SQLite page caches of one server process may hold: the writer's and each
    pooled reader's ``cache_size``. A bound, so not memory per session."""
    readers = Settings().db_pool_size
    return (WRITER_CACHE_KIB + readers * READER_CACHE_KIB) / 1024


def add_cases(
    outcome: Outcome,
    sizes: tuple[int, int],
    found: dict[int, dict[str, float | int | None]],
    backend: str,
) -> None:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    for total, raw in found.items():
        idle, peak, holding = raw["idle_rss"], raw["peak_rss"], raw["rss_after_load"]
        assert isinstance(idle, int) and isinstance(peak, int) and isinstance(holding, int)
        outcome.cases.append(
            Case(
                name=f"server peak RSS, {total:,} active sessions ({label})",
                measured=peak / MIB,
                baseline=idle / MIB,
                unit="MiB",
                goal="— (reported)",
                met=None,
                note=f"{(holding - idle) / total:,.0f} B/session retained after load",
                raw=raw,
            )
        )
    small, large = (found[total]["peak_rss"] for total in sizes)
    assert isinstance(small, int) and isinstance(large, int)
    outcome.cases.append(
        Case(
            name=f"server peak RSS, {sizes[1]:,} vs {sizes[0]:,} active sessions ({label})",
            measured=large / MIB,
            baseline=small / MIB,
            unit="MiB",
            goal="reported (flat: nothing per session in memory)",
            met=None,
        )
    )
