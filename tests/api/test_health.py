from __future__ import annotations

from tests.support import Harness


async def test_healthz_needs_nothing(api: Harness) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_health_before_any_sweep_is_degraded(api: Harness) -> None:
    body = (await api.get("/v1/health", scope="read")).json()
    assert body["status"] == "degraded"
    assert body["reasons"] == ["no sweep has run yet"]
    assert body["database"] is True


async def test_health_counts_per_kind_and_turns_degraded_on_overdue(api: Harness) -> None:
    await api.post("/v1/maintenance/sweep")
    for i in range(7):
        await api.post("/v1/sessions", {"id": f"g{i}", "user_id": f"u{i % 3}", "kind": "game"})
    await api.post("/v1/sessions", {"id": "v", "user_id": "u0", "kind": "voice"})
    body = (await api.get("/v1/health")).json()
    assert body["status"] == "ok", body
    assert body["active_sessions"] == 8 and body["active_users"] == 3
    assert body["kinds"]["game"] == {
        "active": 7,
        "overdue": 0,
        "timed_out_last_hour": 0,
        "active_users": 3,
    }
    api.advance(301)
    await api.post("/v1/sessions/v/heartbeat", {})  # voice times out on this late beat
    body = (await api.get("/v1/health", details="true")).json()
    assert body["status"] == "degraded"
    assert body["overdue_sessions"] == 7
    assert any("7 overdue sessions" in r for r in body["reasons"])
    assert any("last sweep" in r for r in body["reasons"])  # 301 s > 3 x 15 s
    assert sorted(s["id"] for s in body["overdue"]) == [f"g{i}" for i in range(7)]
    assert [s["id"] for s in body["recently_timed_out"]] == ["v"]
    assert body["kinds"]["voice"]["timed_out_last_hour"] == 1
    await api.post("/v1/maintenance/sweep")
    body = (await api.get("/v1/health")).json()
    assert body["status"] == "ok", body
    assert body["timed_out_last_hour"] == 8
    assert body["last_sweep"]["closed"] == 7 and body["last_sweep"]["lag_s"] == 0


async def test_metrics_expose_prometheus_text(api: Harness) -> None:
    await api.post("/v1/sessions", {"id": "m", "user_id": "u", "kind": "game"})
    await api.post("/v1/sessions/m/heartbeat", {})
    await api.post("/v1/sessions/m/end", {})
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'sessionkeeper_sessions_started_total{kind="game"} 1.0' in text
    assert 'sessionkeeper_sessions_ended_total{kind="game",reason="client"} 1.0' in text
    assert 'sessionkeeper_heartbeats_total{outcome="ok"} 1.0' in text
    assert "sessionkeeper_http_request_duration_seconds_bucket" in text
    assert 'route="/v1/sessions/{session_id}/heartbeat"' in text
    assert 'sessionkeeper_active_sessions{kind="game"}' not in text  # ended: none active
    await api.post("/v1/sessions", {"id": "n", "user_id": "u", "kind": "voice"})
    text = (await api.client.get("/metrics")).text
    assert 'sessionkeeper_active_sessions{kind="voice"} 1.0' in text
