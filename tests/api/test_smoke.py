from __future__ import annotations

from tests.support import Harness


async def test_start_heartbeat_end_round_trip(api_any: Harness) -> None:
    created = await api_any.post("/v1/sessions", {"id": "s1", "user_id": "u", "kind": "game"})
    assert created.status_code == 201, created.text
    api_any.advance(30)
    beat = await api_any.post("/v1/sessions/s1/heartbeat", scope="ingest")
    assert beat.status_code == 200
    api_any.advance(10)
    ended = await api_any.post("/v1/sessions/s1/end", scope="ingest")
    assert ended.json()["status"] == "ended"
    assert ended.json()["duration_s"] == 40.0
