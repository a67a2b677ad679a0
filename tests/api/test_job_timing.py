"""A server job's length grows with every tenant's data (the sweep takes longer the more
sessions anyone left overdue), so a tenant sees such runs as of their starts, their lengths
unknown; the operator sees everything. On both databases."""

from __future__ import annotations

from sessionkeeper.storage import jobs
from sessionkeeper.storage.transaction import Transaction
from tests.support import OPERATOR, Harness, ms


async def record(api: Harness, name: str, started: int, finished: int, error: str | None) -> None:
    def write(tx: Transaction) -> None:
        jobs.record(tx.conn, name, started_at=started, finished_at=finished, result=0, error=error)

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
