"""Tenant time zone, daily rollups, summary and live counts through the app, against
hand-computed answers for a scripted day in Europe/Prague (UTC+1 in January)."""

from __future__ import annotations

from typing import Any

from tests.support import T0, Harness, iso

H = 3_600_000
MIN = 60_000


async def scripted(api: Harness) -> None:
    """T0 is 2026-01-05 10:00 in Prague.

    - A (web, u1): 2026-01-04 22:30 → 2026-01-05 00:30 Prague: 90 min on the 4th, 30 on the 5th;
    - C (game, u2): 09:00 → 09:30 on the 5th;
    - B (web, u1): from 10:00 on the 5th, still open 10 min later;
    - events: an action in A on the 4th, three page views in B, one without a session (u9).
    """
    assert (await api.put("/v1/settings", {"timezone": "Europe/Prague"})).status_code == 200
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 60, "timeout_s": 7200})

    def page(event_id: str, name: str, **more: str) -> dict[str, str]:
        return {"event_id": event_id, "user_id": "u1", "type": "page_view", "name": name, **more}

    async def send(*events: dict[str, str]) -> None:
        assert (await api.post("/v1/events", {"events": list(events)})).json()["stored"] == len(
            events
        )

    api.clock.set(T0 - 11 * H - 30 * MIN)
    await api.post("/v1/sessions", {"id": "A", "user_id": "u1", "kind": "web"})
    api.advance(15 * 60)
    await send(
        {"event_id": "buy", "session_id": "A", "user_id": "u1", "type": "action", "name": "buy"}
    )
    api.advance(105 * 60)
    await api.post("/v1/sessions/A/end", {})
    api.clock.set(T0 - H)
    await api.post("/v1/sessions", {"id": "C", "user_id": "u2", "kind": "game"})
    api.advance(30 * 60)
    await api.post("/v1/sessions/C/end", {})
    api.clock.set(T0)
    await api.post("/v1/sessions", {"id": "B", "user_id": "u1", "kind": "web"})
    await send(
        page("p1", "/home", session_id="B"),
        page("p2", "/home", session_id="B", at=iso(T0 + MIN)),
        page("p3", "/about", session_id="B", at=iso(T0 + 2 * MIN)),
        {"event_id": "c1", "user_id": "u9", "type": "custom", "name": "install"},
    )
    api.advance(600)


def rows_of(body: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(row["day"], row["kind"]): row for row in body["rows"]}


def sessions_of(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["sessions_started"],
        row["sessions_active"],
        row["users"],
        row["duration_total_s"],
        row["duration_p50_s"],
        row["duration_p95_s"],
        {k: v for k, v in row["by_status"].items() if v},
    )


async def test_daily_rollups_in_the_tenants_time_zone(api_any: Harness) -> None:
    api = api_any
    await scripted(api)
    run = (await api.post("/v1/maintenance/rollup")).json()
    assert run["refreshed"] >= 4 and run["pending"] == 0
    body = (await api.get("/v1/metrics/daily", days=2)).json()
    # When the rows were computed, spelled as every other time in an answer (a session's
    # own times here): UTC with a "Z".
    session = (await api.get("/v1/sessions/B")).json()
    assert session["last_seen_at"] == "2026-01-05T09:02:00Z"
    assert {row["computed_at"] for row in body["rows"]} == {"2026-01-05T09:10:00Z"}
    assert (body["timezone"], body["from_day"], body["to_day"]) == (
        "Europe/Prague",
        "2026-01-04",
        "2026-01-05",
    )
    rows = rows_of(body)
    assert list(rows) == [
        ("2026-01-04", "web"),
        ("2026-01-05", None),
        ("2026-01-05", "game"),
        ("2026-01-05", "web"),
    ]
    assert sessions_of(rows["2026-01-04", "web"]) == (1, 1, 1, 5400.0, 5400.0, 5400.0, {"ended": 1})
    assert rows["2026-01-04", "web"]["events_by_type"] == {"page_view": 0, "action": 1, "custom": 0}
    # A's last 30 min and B's 10 min so far; one user; p50 and p95 by nearest rank.
    assert sessions_of(rows["2026-01-05", "web"]) == (
        1,
        2,
        1,
        2400.0,
        600.0,
        1800.0,
        {"ended": 1, "active": 1},
    )
    assert rows["2026-01-05", "web"]["duration_avg_s"] == 1200.0
    assert rows["2026-01-05", "web"]["top_names"] == [
        {"type": "page_view", "name": "/home", "count": 2},
        {"type": "page_view", "name": "/about", "count": 1},
    ]
    assert sessions_of(rows["2026-01-05", "game"]) == (
        1,
        1,
        1,
        1800.0,
        1800.0,
        1800.0,
        {"ended": 1},
    )
    unattached = rows["2026-01-05", None]
    assert (unattached["users"], unattached["sessions_active"]) == (1, 0)
    assert unattached["events_by_type"]["custom"] == 1
    only_game = (await api.get("/v1/metrics/daily", days=2, kind="game")).json()["rows"]
    assert [(r["day"], r["kind"]) for r in only_game] == [("2026-01-05", "game")]
    # The open session goes on counting: ten minutes later the day says so.
    api.advance(600)
    await api.post("/v1/maintenance/rollup")
    rows = rows_of((await api.get("/v1/metrics/daily", days=1)).json())
    assert rows["2026-01-05", "web"]["duration_total_s"] == 3000.0


async def test_another_time_zone_moves_the_midnight(api_any: Harness) -> None:
    api = api_any
    await scripted(api)
    await api.post("/v1/maintenance/rollup")
    # Asked in UTC, computed from the raw data: A lies wholly on the 4th (21:30-23:30 UTC).
    asked = (await api.get("/v1/metrics/daily", days=2, tz="UTC")).json()
    assert asked["timezone"] == "UTC"
    utc = rows_of(asked)
    assert utc["2026-01-04", "web"]["duration_total_s"] == 7200.0
    assert utc["2026-01-05", "web"]["sessions_active"] == 1
    # The tenant moves to UTC: its stored rollups are recomputed in UTC days and agree.
    await api.put("/v1/settings", {"timezone": "UTC"})
    await api.post("/v1/maintenance/rollup")
    stored = (await api.get("/v1/metrics/daily", days=2)).json()
    assert [(r["day"], r["kind"], sessions_of(r)) for r in stored["rows"]] == [
        (r["day"], r["kind"], sessions_of(r)) for r in asked["rows"]
    ]


async def test_settings_are_checked_and_scoped(api: Harness) -> None:
    assert (await api.get("/v1/settings", scope="read")).json()["timezone"] == "UTC"
    # Not a zone, nor a file of the zone directory that names the host's own zone.
    for name in ("Mars/Olympus", "localtime", "posixrules"):
        r = await api.put("/v1/settings", {"timezone": name})
        assert r.status_code == 422 and r.json()["field"] == "timezone", name
    r = await api.get("/v1/metrics/daily", tz="localtime")
    assert r.status_code == 422 and r.json()["field"] == "tz"
    assert (
        await api.put("/v1/settings", {"timezone": "Asia/Tokyo"}, scope="read")
    ).status_code == 403
    assert (await api.put("/v1/settings", {"timezone": "Asia/Tokyo", "x": 1})).status_code == 422
    assert (await api.put("/v1/settings", {"timezone": "Asia/Tokyo"})).json()[
        "timezone"
    ] == "Asia/Tokyo"
    r = await api.get("/v1/metrics/daily", tz="Nowhere/Land")
    assert r.status_code == 422 and r.json()["field"] == "tz"
    r = await api.get("/v1/metrics/daily", **{"from": "2026-01-05", "to": "2026-01-01"})
    assert r.status_code == 422
    assert (await api.get("/v1/metrics/daily", days=0)).status_code == 422
    assert (await api.get("/v1/metrics/summary", period="year")).status_code == 422


async def test_summary_compares_with_the_previous_period(api_any: Harness) -> None:
    api = api_any
    await scripted(api)
    await api.post("/v1/maintenance/rollup")
    body = (await api.get("/v1/metrics/summary", period="day")).json()
    current, previous = body["current"], body["previous"]
    assert (current["from_day"], previous["from_day"]) == ("2026-01-05", "2026-01-04")
    assert (current["sessions_started"], current["sessions_active"], current["users"]) == (2, 3, 2)
    assert current["duration_total_s"] == 1800 + 1800 + 600
    assert (previous["sessions_started"], previous["sessions_active"], previous["users"]) == (
        1,
        1,
        1,
    )
    assert current["events_by_type"] == {"page_view": 3, "action": 0, "custom": 1}
    assert body["change"]["sessions_started"] == 1.0  # 2 against 1: +100 %
    assert body["change"]["events"] == 3.0
    week = (await api.get("/v1/metrics/summary", period="week")).json()
    # 2026-01-05 is a Monday: this week so far is that day; the week before holds the 4th.
    assert (week["current"]["from_day"], week["previous"]["to_day"]) == ("2026-01-05", "2026-01-04")
    month = (await api.get("/v1/metrics/summary", period="month", kind="game")).json()
    assert month["current"]["sessions_started"] == 1 and month["previous"]["sessions_started"] == 0
    assert month["change"]["sessions_started"] is None


async def test_live_counts_open_sessions_not_overdue_ones(api_any: Harness) -> None:
    api = api_any
    await api.put("/v1/policies/voice", {"heartbeat_interval_s": 10, "timeout_s": 30})
    for sid, user, kind in (("a", "u1", "web"), ("b", "u1", "voice"), ("c", "u2", "web")):
        await api.post("/v1/sessions", {"id": sid, "user_id": user, "kind": kind})
    live = (await api.get("/v1/metrics/live", scope="read")).json()
    assert (live["active_sessions"], live["active_users"]) == (3, 2)
    assert live["kinds"] == {
        "voice": {"active_sessions": 1, "active_users": 1},
        "web": {"active_sessions": 2, "active_users": 2},
    }
    api.advance(60)  # the voice session is overdue, not yet swept: no longer active
    live = (await api.get("/v1/metrics/live")).json()
    assert live["kinds"] == {"web": {"active_sessions": 2, "active_users": 2}}


async def test_live_counts_sessions_a_presence_source_keeps_alive(api_any: Harness) -> None:
    """A snapshot is one beat of its source: its sessions stay alive past their own stored
    deadline, and live counts them as every other read does."""
    api = api_any
    await api.put("/v1/policies/rl", {"heartbeat_interval_s": 2, "timeout_s": 4})
    for _ in range(4):
        snapshot = await api.put("/v1/presence/bot", [{"user_id": "p1", "kind": "rl"}])
        assert snapshot.status_code == 200, snapshot.text
        api.advance(3)
    (session,) = (await api.get("/v1/sessions", status="active")).json()["items"]
    assert session["user_id"] == "p1"
    assert (await api.get("/v1/health")).json()["kinds"]["rl"]["active"] == 1
    live = (await api.get("/v1/metrics/live")).json()
    assert live["kinds"] == {"rl": {"active_sessions": 1, "active_users": 1}}
    api.advance(5)  # the source fell silent: overdue now, out of every count
    assert (await api.get("/v1/metrics/live")).json()["kinds"] == {}


async def test_tenants_see_only_their_own_metrics(api: Harness) -> None:
    await scripted(api)
    await api.post("/v1/maintenance/rollup")
    api.services.tenants.create_tenant("other")
    other = {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}
    daily = (await api.client.get("/v1/metrics/daily", headers=other)).json()
    assert daily["rows"] == [] and daily["timezone"] == "UTC"
    live = (await api.client.get("/v1/metrics/live", headers=other)).json()
    assert (live["active_sessions"], live["kinds"]) == (0, {})
    summary = (await api.client.get("/v1/metrics/summary", headers=other)).json()
    assert summary["current"]["sessions_active"] == 0
    assert sum(summary["current"]["events_by_type"].values()) == 0
    run = (await api.client.post("/v1/maintenance/rollup", headers=other)).json()
    assert run["refreshed"] == 0


async def test_daily_percentiles_are_nearest_rank_over_many_sessions(api_any: Harness) -> None:
    """Twenty sessions of 1 to 20 minutes on one day: the 95th percentile is the 19th value
    (rank ceil(0.95 * 20)), where an off-by-one or interpolation would give 18, 19.05 or 20."""
    api = api_any
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 60, "timeout_s": 7200})
    api.clock.set(T0 - 3 * H)
    for n in range(1, 21):
        await api.post("/v1/sessions", {"id": f"s{n}", "user_id": f"u{n % 7}", "kind": "web"})
    for n in range(1, 21):
        api.advance(60)
        assert (await api.post(f"/v1/sessions/s{n}/end", {})).status_code == 200
    await api.post("/v1/maintenance/rollup")
    (row,) = (await api.get("/v1/metrics/daily", days=1)).json()["rows"]
    assert sessions_of(row) == (20, 20, 7, 210 * 60.0, 600.0, 1140.0, {"ended": 20})


async def test_the_last_day_there_is_answers_in_every_time_zone(api_any: Harness) -> None:
    """9999-12-31 is a day like another: its next midnight, in the year 10000, is no date."""
    api = api_any
    for tz in ("Etc/UTC", "Pacific/Kiritimati", "Etc/GMT+12", "America/New_York"):
        answer = await api.get(
            "/v1/metrics/daily", tz=tz, **{"from": "9999-12-31"}, to="9999-12-31"
        )
        assert answer.status_code == 200, (tz, answer.text)
        assert answer.json()["rows"] == []  # nothing happened then, yet
