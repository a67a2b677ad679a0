"""6. ``GET /v1/sessions/export.csv`` of 1,000,000 sessions: rows/s, and the server's RSS
while it streams, which must stay flat.

Sessions are bulk-inserted with a subject each (100 teachers, one student per session) and
start times 1 ms apart, so the export writes two subject columns and pages by start time.
The export is read over HTTP from the server subprocess as it streams; a sampler notes the
server's RSS every 20 ms together with how many rows the client has read by then.

- **Throughput** is measured against a baseline in the same run: the same keyset pages of the
  same rows read with a bare ``SELECT`` (no lifecycle projection, no CSV, no HTTP), in the
  benchmark's own process.
- **Memory**: the peak RSS while the first 100,000 rows streamed, against the peak over all
  1,000,000. Constant memory means the ratio stays near 1.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import sqlalchemy as sa

from bench.config import RunConfig
from bench.databases import bare_engine, database, postgres_available
from bench.memory import MIB, Sampler
from bench.populate import Population, now_ms, populate, prepare
from bench.report import Case, Outcome
from bench.server import Server, running_server
from sessionkeeper.domain.principal import Scope
from sessionkeeper.services.session_reports import EXPORT_PAGE
from sessionkeeper.storage.sessions import SESSION_COLUMNS
from sessionkeeper.storage.tables import sessions as t

NAME = "export"
GOAL_FLAT = 1.1


class ProgressSampler(Sampler):
    """The server's RSS every ``interval_s``, with the rows read at that moment."""

    def __init__(self, server: Server, interval_s: float = 0.02) -> None:
        super().__init__(server, interval_s)
        self.rows = 0
        self.samples: list[tuple[int, int]] = []

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((self.rows, self.server.rss_bytes()))
            self._stop.wait(self.interval_s)

    def peak_of(self, up_to_rows: int | None = None) -> int:
        return max(
            (rss for rows, rss in self.samples if up_to_rows is None or rows <= up_to_rows),
            default=0,
        )


def export(server: Server, key: str, sampler: ProgressSampler) -> tuple[int, int, float]:
    """Stream the whole export; returns (rows, bytes, seconds)."""
    rows = size = 0
    began = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(base_url=server.base_url, headers=headers, timeout=600) as client,
        client.stream("GET", "/v1/sessions/export.csv") as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            rows += chunk.count(b"\n")  # no field of these rows holds a line break
            sampler.rows = rows
    return rows - 1, size, time.perf_counter() - began  # less the header


def bare_pages(url: str, tenant_id: int) -> tuple[int, float]:
    """The baseline: the same keyset pages with a bare SELECT; returns (rows, seconds)."""
    engine = bare_engine(url)
    rows = 0
    after: tuple[int, str] | None = None
    began = time.perf_counter()
    try:
        with engine.connect() as conn:
            while True:
                conditions: list[Any] = [t.c.tenant_id == tenant_id]
                if after is not None:
                    conditions.append(t.c.started_at >= after[0])
                    conditions.append(sa.or_(t.c.started_at > after[0], t.c.id > after[1]))
                page = conn.execute(
                    sa.select(*SESSION_COLUMNS)
                    .where(*conditions)
                    .order_by(t.c.started_at, t.c.id)
                    .limit(EXPORT_PAGE)
                ).all()
                rows += len(page)
                if len(page) < EXPORT_PAGE:
                    break
                after = (page[-1].started_at, page[-1].id)
    finally:
        engine.dispose()
    return rows, time.perf_counter() - began


def measure(backend: str, total: int, early: int) -> list[Case]:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    with database(backend) as url:
        tenant = prepare(url, Scope.READ)
        spec = Population(tenant.id, total, now_ms(), start_spacing_ms=1, with_subject=True)
        populate_s = populate(url, spec)
        bare_rows, bare_s = bare_pages(url, tenant.id)
        with running_server(url) as server:
            time.sleep(1.0)
            idle = server.rss_bytes()
            with ProgressSampler(server) as sampler:
                rows, size, seconds = export(server, tenant.key, sampler)
            high_water = server.peak_rss_bytes()
    assert rows == total == bare_rows, (rows, total, bare_rows)
    raw = {
        "rows": rows,
        "bytes": size,
        "export_s": seconds,
        "bare_rows": bare_rows,
        "bare_s": bare_s,
        "populate_s": populate_s,
        "idle_rss": idle,
        "peak_rss_early": sampler.peak_of(early),
        "peak_rss_all": sampler.peak_of(),
        "peak_rss_vmhwm": high_water,
        "samples": len(sampler.samples),
    }
    early_peak, all_peak = sampler.peak_of(early), sampler.peak_of()
    return [
        Case(
            name=f"CSV export of {total:,} sessions, rows/s ({label})",
            measured=rows / seconds,
            baseline=bare_rows / bare_s,
            unit="rows/s",
            goal="— (reported)",
            met=None,
            note=f"{size / seconds / MIB:,.1f} MiB/s",
            raw=raw,
        ),
        Case(
            name=f"server peak RSS during the export: {total:,} vs first {early:,} rows ({label})",
            measured=all_peak / MIB,
            baseline=early_peak / MIB,
            unit="MiB",
            goal=f"ratio ≤ {GOAL_FLAT} (flat)",
            met=all_peak / early_peak <= GOAL_FLAT if early_peak else None,
            note=f"idle {idle / MIB:,.0f} MiB",
            raw=raw,
        ),
    ]


def run(config: RunConfig) -> Outcome:
    total = config.size(1_000_000, 200_000)
    early = config.size(100_000, 20_000)
    outcome = Outcome(NAME, settings={"sessions": total, "early_rows": early, "page": EXPORT_PAGE})
    for backend in config.backends:
        if backend == "postgresql" and not postgres_available():
            outcome.skipped.append("PostgreSQL not reachable")
            continue
        outcome.cases.extend(measure(backend, total, early))
    return outcome
