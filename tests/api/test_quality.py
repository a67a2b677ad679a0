"""The data-quality report against hand-computed answers, on SQLite and PostgreSQL.

Policy: heartbeats every 10 s, timeout 30 s, grace 5 s. Lessons (kind ``lesson``) are tracked
by a companion page that often loses its end; games end by their clients; presence from a
bot ends by lost presence.
"""

from __future__ import annotations

import pytest

from tests.support import T0, Harness, iso


async def _lessons_games_and_presence(api: Harness) -> None:
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 10, "timeout_s": 30, "grace_s": 5})
    # Five lessons: two end by their client after 100 s, three go silent after a beat at 20 s.
    for n in range(5):
        await api.post("/v1/sessions", {"id": f"lesson-{n}", "user_id": f"s{n}", "kind": "lesson"})
    await api.put("/v1/presence/bot", [{"user_id": "p", "kind": "voice"}])
    await api.post("/v1/sessions", {"id": "game-0", "user_id": "g", "kind": "game"})
    api.advance(20)
    for n in range(5):
        await api.post(f"/v1/sessions/lesson-{n}/heartbeat")
    await api.put("/v1/presence/bot", [{"user_id": "p", "kind": "voice"}])
    api.advance(10)
    await api.put("/v1/presence/bot", [])  # voice lost at 30 s, seen last at 20 s
    await api.post("/v1/sessions/game-0/end")  # 30 s exactly
    for _ in range(7):  # lesson-0 and -1 beat every 10 s until 100 s, and end there
        for n in range(2):
            await api.post(f"/v1/sessions/lesson-{n}/heartbeat")
        api.advance(10)
    for n in range(2):
        await api.post(f"/v1/sessions/lesson-{n}/end", {"at": iso(T0 + 100_000)})
    # lesson-2..4 went silent after 20 s: timed out at 25 s, the next beat was due at 30 s.
    await api.post("/v1/maintenance/sweep")
    # A continuation of lesson-2, and a late beat that amends lesson-3 (made at 45 s, in
    # time: its deadline was 50 s).
    await api.post(
        "/v1/sessions",
        {"id": "lesson-2b", "user_id": "s2", "kind": "lesson", "continues": "lesson-2"},
    )
    await api.post("/v1/sessions/lesson-2b/end")
    late = await api.post("/v1/sessions/lesson-3/heartbeat", {"at": iso(T0 + 45_000)})
    assert late.status_code == 200 and late.json()["amended_count"] == 1


async def test_quality_by_kind_against_hand_computed_answers(api_any: Harness) -> None:
    api = api_any
    await _lessons_games_and_presence(api)
    report = (await api.get("/v1/metrics/quality", days=1)).json()
    groups = {g["key"]: g for g in report["groups"]}
    assert set(groups) == {"lesson", "game", "voice"}
    lesson = groups["lesson"]
    # lesson-0, -1: 100 s each, exact; -2, -4: 25 s, estimated, bounds [20, 30];
    # -3 amended: last seen 45 s, ended 50 s, bounds [45, 55]; -2b: 0 s, exact.
    assert lesson["sessions"] == 6
    assert lesson["time_s"] == pytest.approx(100 + 100 + 25 + 25 + 50 + 0)
    assert lesson["by_reason"]["client"] == {"sessions": 3, "time_s": 200.0}
    assert lesson["by_reason"]["timeout"] == {"sessions": 3, "time_s": 100.0}
    assert lesson["estimated_share"] == pytest.approx(100 / 300)
    assert lesson["mean_bound_width_s"] == pytest.approx((10 + 10 + 10) / 6)
    assert (lesson["amended"], lesson["continuations"]) == (1, 1)
    assert lesson["lost_end_share"] == pytest.approx(3 / 6)
    game, voice = groups["game"], groups["voice"]
    assert (game["sessions"], game["time_s"], game["lost_end_share"]) == (1, 30.0, 0.0)
    assert voice["by_reason"]["presence_lost"] == {"sessions": 1, "time_s": 30.0}
    # Lost presence is an exact end, bounded by the snapshots around it: 20 s to 30 s.
    assert (voice["estimated_share"], voice["mean_bound_width_s"]) == (0.0, 10.0)
    assert [w["key"] for w in report["worst"]] == ["lesson"]


async def test_quality_by_source_and_day_and_tenant_isolation(api_any: Harness) -> None:
    api = api_any
    await _lessons_games_and_presence(api)
    by_source = (await api.get("/v1/metrics/quality", group_by="source")).json()
    assert {g["key"]: g["sessions"] for g in by_source["groups"]} == {"api": 7, "bot": 1}
    by_day = (await api.get("/v1/metrics/quality", group_by="day")).json()
    assert [(g["key"], g["sessions"]) for g in by_day["groups"]] == [("2026-01-05", 8)]
    # The tenant's time zone decides the day: 09:00 UTC is the 5th in Tokyo too (18:00).
    await api.put("/v1/settings", {"timezone": "Pacific/Honolulu"})  # 23:00 on the 4th
    by_local_day = (await api.get("/v1/metrics/quality", group_by="day", days=3)).json()
    assert [g["key"] for g in by_local_day["groups"]] == ["2026-01-04"]
    api.services.tenants.create_tenant("other")
    other = {"Authorization": f"Bearer {api.new_key('other', 'read')}"}
    theirs = (await api.client.get("/v1/metrics/quality", headers=other)).json()
    assert theirs["groups"] == [] and theirs["worst"] == []
    refused = await api.get("/v1/metrics/quality", group_by="week")
    assert refused.status_code == 422
