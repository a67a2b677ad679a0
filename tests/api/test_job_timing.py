"""A server job's length grows with every tenant's data (the sweep takes longer the more
sessions anyone left overdue), so a tenant sees such runs as of their starts, their lengths
unknown; the operator sees everything. On both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionkeeper.domain.job_runs import shown_from
from sessionkeeper.storage import jobs
from sessionkeeper.storage.transaction import Transaction
from tests.support import OPERATOR, Harness, ms, running_app


async def record(
    api: Harness,
    name: str,
    started: int,
    finished: int,
    error: str | None,
    shown: int | None = None,
) -> None:
    def write(tx: Transaction) -> None:
        jobs.record(
            tx.conn,
            name,
            started_at=started,
            finished_at=finished,
            result=0,
            error=error,
            shown_from=shown,
        )

    await api.runtime.db.writer.run(write)


async def test_a_tenant_sees_the_servers_sweep_as_of_its_start(api_op: Harness) -> None:
    api = api_op
    now = api.clock.now_ms()
    await record(api, "sweep", now - 9_000, now - 1_500, None)
    await record(api, "cleanup", now - 9_000, now - 2_500, None)
    tenant = (await api.get("/v1/health")).json()
    assert ms(tenant["last_sweep"]["at"]) == now - 9_000
    assert tenant["last_sweep"]["lag_s"] == 9.0
    assert tenant["last_sweep"]["duration_s"] is None
    assert ms(tenant["last_sweep"]["last_success_at"]) == now - 9_000
    for name in ("sweep", "cleanup"):
        run = tenant["jobs"][name]
        assert [ms(run[f]) for f in ("started_at", "at", "last_success_at")] == [now - 9_000] * 3
        assert run["duration_s"] is None
    cleanup = (await api.get("/v1/maintenance/cleanup", scope="read")).json()
    assert ms(cleanup["last_run"]["at"]) == now - 9_000
    assert cleanup["last_run"]["duration_s"] is None
    # The operator sees the runs as they were.
    everyone = (await api.client.get("/v1/health", headers=OPERATOR)).json()
    assert ms(everyone["last_sweep"]["at"]) == now - 1_500
    assert everyone["last_sweep"]["duration_s"] == 7.5
    assert everyone["jobs"]["cleanup"]["duration_s"] == 6.5
    assert ms(everyone["jobs"]["cleanup"]["last_success_at"]) == now - 2_500


async def test_a_failed_run_shows_a_tenant_when_the_last_success_started(
    api_op: Harness,
) -> None:
    api = api_op
    now = api.clock.now_ms()
    await record(api, "sweep", now - 20_000, now - 16_000, None)
    await record(api, "sweep", now - 5_000, now - 1_000, "OperationalError: gone")
    run = (await api.get("/v1/health")).json()["jobs"]["sweep"]
    assert ms(run["last_success_at"]) == now - 20_000
    assert ms(run["at"]) == now - 5_000 and run["error"] == "OperationalError: gone"
    everyone = (await api.client.get("/v1/health", headers=OPERATOR)).json()["jobs"]["sweep"]
    assert ms(everyone["last_success_at"]) == now - 16_000


async def test_a_tenants_own_runs_keep_their_length(api_op: Harness) -> None:
    api = api_op
    await api.post("/v1/maintenance/sweep")
    body = (await api.get("/v1/health")).json()
    assert body["last_sweep"]["duration_s"] is not None
    (own,) = [name for name in body["jobs"] if name.startswith("sweep@")]
    assert body["jobs"][own]["duration_s"] is not None


async def tenant_readings(api: Harness, start: int, second_length: int) -> list[object]:
    """Two server sweeps and cleanups, a minute apart from ``start``, the second lasting
    ``second_length``, each recorded when it ends as the jobs record them; and what a tenant
    reads of them every 100 ms for 20 s from the second one's start: health's last sweep and
    jobs, and the cleanup's status (its last run and when the next is due)."""
    ends = [(start + 10, 10), (start + 60_000 + second_length, second_length)]
    records = [(finished - length, finished) for finished, length in ends]
    readings = []
    for at in range(start + 60_000, start + 80_000, 100):
        while records and records[0][1] <= at:
            started, finished = records.pop(0)
            api.advance((finished - api.clock.now_ms()) / 1000)
            for name, interval_ms in (("sweep", 15_000), ("cleanup", 900_000)):
                shown = shown_from(started, finished, interval_ms)
                await record(api, name, started, finished, None, shown)
        api.advance((at - api.clock.now_ms()) / 1000)
        health = (await api.get("/v1/health")).json()
        cleanup = (await api.get("/v1/maintenance/cleanup", scope="read")).json()
        readings.append((health["last_sweep"], health["jobs"], cleanup))
    return readings


@pytest.mark.parametrize("long_run_ms", [2_000, 14_990])
async def test_what_a_tenant_reads_of_server_runs_does_not_tell_when_they_ended(
    tmp_path: Path, long_run_ms: int
) -> None:
    """The same runs, the second once short and once long (within a step), read by a tenant
    as they happen: the same answer at every moment. (A run is recorded at its end; a view
    that changed then would time it, and its length grows with the other tenants' data.)"""
    readings = []
    for n, length in enumerate((10, long_run_ms)):
        async with running_app(f"sqlite:///{tmp_path / f'{n}.db'}") as api:
            readings.append(await tenant_readings(api, api.clock.now_ms() + 1_000, length))
    differ = [n for n, (short, long) in enumerate(zip(*readings, strict=True)) if short != long]
    assert not differ, f"read {differ[0] * 100} ms after the start: {readings[1][differ[0]]}"
    # The second runs are shown, as of their starts, once a step has passed.
    last_sweep, runs, cleanup = readings[0][-1]  # type: ignore[misc]
    start = ms(last_sweep["at"])
    assert (ms(runs["cleanup"]["at"]), ms(cleanup["last_run"]["at"])) == (start, start)
    assert ms(cleanup["next_run_at"]) == start + 900_000
    first_shown = next(i for i, r in enumerate(readings[0]) if ms(r[0]["at"]) == start)  # type: ignore[index]
    assert first_shown == 150  # 15 s after the start, read every 100 ms
