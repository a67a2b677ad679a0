"""Health, the sweep and metrics show a tenant its own figures only; the operator sees the
whole server; /metrics is not for everyone and its kind labels are bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sessionkeeper.domain.job_runs import SHOWN_STEP_MS
from tests.support import Harness, running_app

OPERATOR_KEY = "op-" + "m" * 40
METRICS_TOKEN = "mt-" + "t" * 40


@pytest.fixture
async def api_op(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_app(
        f"sqlite:///{tmp_path / 'sk.db'}",
        operator_key=OPERATOR_KEY,
        metrics_max_kinds=3,
    ) as harness:
        yield harness


async def other_tenant(api: Harness) -> dict[str, str]:
    api.services.tenants.create_tenant("other")
    return {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}


async def test_a_tenants_sweep_closes_and_counts_its_own_sessions_only(api_any: Harness) -> None:
    api = api_any
    other = await other_tenant(api)
    for i in range(3):
        await api.post("/v1/sessions", {"id": f"mine-{i}", "user_id": "u", "kind": "game"})
    for i in range(5):
        await api.client.post(
            "/v1/sessions",
            json={"id": f"theirs-{i}", "user_id": "u", "kind": "game"},
            headers=other,
        )
    api.advance(400)
    swept = await api.post("/v1/maintenance/sweep")
    assert swept.json()["closed"] == 3
    mine = (await api.get("/v1/health")).json()
    assert mine["last_sweep"]["closed"] == 3 and mine["overdue_sessions"] == 0
    theirs = (await api.client.get("/v1/health", headers=other)).json()
    # The other tenant's sessions were not swept by this tenant's request.
    assert theirs["overdue_sessions"] == 5
    assert theirs["last_sweep"] is None
    # Nor does it learn that this tenant swept, or when: its jobs hold no run of another's.
    assert not any("@" in name for name in theirs["jobs"])
    assert any(name.startswith("sweep@") for name in mine["jobs"])
    # Read, an overdue session shows as it will be closed; stored, it is still waiting.
    read = (await api.client.get("/v1/sessions/theirs-0", headers=other)).json()
    assert (read["status"], read["estimated"]) == ("timed_out", True)
    await api.client.post("/v1/maintenance/sweep", headers=other)
    theirs = (await api.client.get("/v1/health", headers=other)).json()
    assert theirs["last_sweep"]["closed"] == 5 and theirs["overdue_sessions"] == 0
    mine_after = (await api.get("/v1/health")).json()
    assert [name for name in theirs["jobs"] if "@" in name] != [
        name for name in mine_after["jobs"] if "@" in name
    ]
    assert len([name for name in mine_after["jobs"] if "@" in name]) == 1


async def test_the_servers_sweep_reports_each_tenant_its_part(api_op: Harness) -> None:
    api = api_op
    other = await other_tenant(api)
    await api.post("/v1/sessions", {"id": "a", "user_id": "u", "kind": "game"})
    for i in range(4):
        await api.client.post(
            "/v1/sessions", json={"id": f"b{i}", "user_id": "u", "kind": "game"}, headers=other
        )
    api.advance(400)
    operator = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    swept = await api.client.post("/v1/maintenance/sweep", headers=operator)
    assert swept.json()["closed"] == 5  # the operator sees the whole server
    assert (await api.get("/v1/health")).json()["last_sweep"] is None  # not shown yet
    api.advance(SHOWN_STEP_MS / 1000)  # tenants see a server run a step after its start
    assert (await api.get("/v1/health")).json()["last_sweep"]["closed"] == 1
    assert (await api.client.get("/v1/health", headers=other)).json()["last_sweep"]["closed"] == 4
    server = (await api.client.get("/v1/health", headers=operator)).json()
    assert server["last_sweep"]["closed"] == 5
    assert server["timed_out_last_hour"] == 5
    named = await api.client.get(
        "/v1/health", headers={**operator, "Sessionkeeper-Tenant": "other"}
    )
    assert named.json()["timed_out_last_hour"] == 4


async def test_metrics_are_for_this_machine_unless_a_credential_is_sent(api_op: Harness) -> None:
    api = api_op
    assert (await api.client.get("/metrics")).status_code == 200  # loopback: the harness
    transport = httpx.ASGITransport(app=api.app, client=("203.0.113.9", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://sk.test") as remote:
        refused = await remote.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        tenant = await remote.get("/metrics", headers=api.auth())
        assert tenant.status_code == 403  # a tenant's key: no other tenant's kinds for it
        operator = await remote.get("/metrics", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
        assert operator.status_code == 200
        assert operator.headers["content-type"].startswith("text/plain")


async def test_a_metrics_token_is_needed_even_on_this_machine(tmp_path: Path) -> None:
    async with running_app(f"sqlite:///{tmp_path / 'sk.db'}", metrics_token=METRICS_TOKEN) as api:
        assert (await api.client.get("/metrics")).status_code == 401
        wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer sk_wrong"})
        assert wrong.status_code == 401
        ok = await api.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert ok.status_code == 200 and "sessionkeeper_sessions_started_total" in ok.text


async def test_kinds_beyond_the_bound_are_counted_as_other(api_op: Harness) -> None:
    api = api_op
    for i, kind in enumerate(["game", "voice", "lesson", "page", "call", "room"]):
        await api.post("/v1/sessions", {"id": f"s{i}", "user_id": "u", "kind": kind})
    text = (await api.client.get("/metrics")).text
    started = [
        line
        for line in text.splitlines()
        if line.startswith("sessionkeeper_sessions_started_total{")
    ]
    assert len(started) == 4  # three kinds of their own, and "other"
    assert 'sessionkeeper_sessions_started_total{kind="other"} 3.0' in text
    assert 'sessionkeeper_active_sessions{kind="other"} 3.0' in text
    assert 'kind="room"' not in text
