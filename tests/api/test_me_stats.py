"""A user's statistics, streaks and recap against hand-computed answers, for a scripted month
of sessions in Europe/Prague across the end of summer time (2026-10-25, 03:00 CEST → 02:00 CET).

The script (local times; durations in real time):

- E  10-02 12:00 CEST, 60 min, lesson: pronunciation 50
- P1 10-20 10:00 CEST, 30 min, lesson: pronunciation 70, words 100, topics travel, to improve
  past tense, vocabulary reservation and hotel
- P2 10-25 02:30 CEST, 60 min, call: pronunciation 80, words 50 (ends 02:30 CET: the hour
  repeats)
- C1 10-26 09:00 CET, 20 min, lesson: pronunciation 90, words 200, topics travel and food,
  to improve past tense and articles, vocabulary reservation
- C2 10-28 23:50 CET, 30 min, lesson: pronunciation 60, words 30, to improve articles
  (10 min on the 28th, 20 on the 29th)
- C3 11-01 08:00 CET, 15 min, call, no outcome
- C4 11-01 19:55 CET, still active, call, no outcome

Now is 2026-11-01 20:00 CET. Streaks need 10 minutes a day from midnight.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from sessionkeeper.clock import ManualClock
from tests.api.end_users import User, configure
from tests.support import Harness, running_app

PRAGUE = zoneinfo.ZoneInfo("Europe/Prague")


def local(text: str) -> int:
    return round(datetime.fromisoformat(text).replace(tzinfo=PRAGUE).timestamp() * 1000)


def utc(text: str) -> int:
    return round(datetime.fromisoformat(text + "+00:00").timestamp() * 1000)


SCRIPT: list[tuple[str, int, int | None, str, dict[str, Any] | None]] = [
    ("E", local("2026-10-02T12:00"), 60, "lesson", {"metrics": {"pronunciation": 50}}),
    (
        "P1",
        local("2026-10-20T10:00"),
        30,
        "lesson",
        {
            "metrics": {"pronunciation": 70},
            "counters": {"words_spoken": 100},
            "tags": {
                "topics": ["travel"],
                "areas_to_improve": ["past tense"],
                "vocabulary": ["reservation", "hotel"],
            },
        },
    ),
    # 02:30 CEST is 00:30 UTC; an hour later the clocks show 02:30 again (CET).
    (
        "P2",
        utc("2026-10-25T00:30"),
        60,
        "call",
        {"metrics": {"pronunciation": 80}, "counters": {"words_spoken": 50}},
    ),
    (
        "C1",
        local("2026-10-26T09:00"),
        20,
        "lesson",
        {
            "metrics": {"pronunciation": 90},
            "counters": {"words_spoken": 200},
            "tags": {
                "topics": ["travel", "food"],
                "areas_to_improve": ["past tense", "articles"],
                "vocabulary": ["reservation"],
            },
        },
    ),
    (
        "C2",
        local("2026-10-28T23:50"),
        30,
        "lesson",
        {
            "metrics": {"pronunciation": 60},
            "counters": {"words_spoken": 30},
            "tags": {"areas_to_improve": ["articles"]},
        },
    ),
    ("C3", local("2026-11-01T08:00"), 15, "call", None),
    ("C4", local("2026-11-01T19:55"), None, "call", None),
]
NOW = local("2026-11-01T20:00")


@pytest.fixture
async def month(db_url: str) -> AsyncIterator[Harness]:
    """The script on each backend in turn."""
    clock = ManualClock(local("2026-10-01T08:00"))
    async with running_app(db_url, clock=clock) as api:
        await configure(api)
        policy = {"heartbeat_interval_s": 3600, "timeout_s": 7200}
        assert (await api.put("/v1/policies/*", policy)).status_code == 200
        settings = {
            "focus_field": "areas_to_improve",
            "learned_field": "vocabulary",
            "day_start": "00:00",
            "min_minutes": 10,
        }
        assert (await api.put("/v1/settings/recap", settings)).status_code == 200
        alice = User(api, "alice")
        for name, start, minutes, kind, outcome in SCRIPT:
            clock.set(start)
            r = await alice.call("POST", "/v1/me/sessions", {"id": name, "kind": kind})
            assert r.status_code == 201, r.text
            if minutes is not None:
                clock.set(start + minutes * 60_000)
                assert (await alice.call("POST", f"/v1/me/sessions/{name}/end")).status_code == 200
            if outcome is not None:
                r = await alice.call("PUT", f"/v1/me/sessions/{name}/outcome", outcome)
                assert r.status_code == 200, r.text
        # Someone else's sessions never count.
        clock.set(local("2026-10-30T10:00"))
        await api.post("/v1/sessions", {"id": "B1", "user_id": "bob", "kind": "lesson"})
        clock.set(NOW)
        yield api


async def test_week(month: Harness) -> None:
    r = await User(month, "alice").call("GET", "/v1/me/stats", period="week", tz="Europe/Prague")
    assert r.status_code == 200, r.text
    stats = r.json()
    assert stats["timezone"] == "Europe/Prague" and stats["period"] == "week"
    current = stats["current"]
    assert (current["first_day"], current["last_day"]) == ("2026-10-26", "2026-11-01")
    assert current["sessions"] == 4  # C1-C4; C4 is active and has no duration yet
    assert current["total_duration_s"] == 3900.0  # 20 + 30 + 15 minutes
    assert current["average_duration_s"] == 1300.0
    # Every end here was reported by the client: exact, the bounds close on the totals.
    assert (current["estimated_s"], current["bounds_s"]) == (0.0, [3900.0, 3900.0])
    assert current["by_kind"] == [
        {
            "kind": "call",
            "sessions": 2,
            "total_duration_s": 900.0,
            "average_duration_s": 900.0,
            "estimated_s": 0.0,
            "bounds_s": [900.0, 900.0],
        },
        {
            "kind": "lesson",
            "sessions": 2,
            "total_duration_s": 3000.0,
            "average_duration_s": 1500.0,
            "estimated_s": 0.0,
            "bounds_s": [3000.0, 3000.0],
        },
    ]
    assert current["metrics"] == [
        {
            "name": "pronunciation",
            "average": 75.0,
            "count": 2,
            # C2 started on the 28th: its score is that day's.
            "trend": [
                {"date": "2026-10-26", "average": 90.0},
                {"date": "2026-10-28", "average": 60.0},
            ],
        }
    ]
    assert current["counters"] == {"words_spoken": 230}
    assert current["tags"] == {
        "areas_to_improve": [{"tag": "articles", "count": 2}, {"tag": "past tense", "count": 1}],
        "topics": [{"tag": "food", "count": 1}, {"tag": "travel", "count": 1}],
        "vocabulary": [{"tag": "reservation", "count": 1}],
    }
    previous = stats["previous"]
    # 10-19 .. 10-25: seven local days, the last one 25 hours long.
    assert (previous["first_day"], previous["last_day"]) == ("2026-10-19", "2026-10-25")
    assert previous["sessions"] == 2
    assert previous["total_duration_s"] == 5400.0
    assert previous["metrics"][0]["average"] == 75.0
    assert stats["change"] == {
        "sessions": 2,
        "total_duration_s": -1500.0,
        "metrics": {"pronunciation": 0.0},
        "counters": {"words_spoken": 80},
        "improved": {"pronunciation": False},  # no change is no improvement
    }
    # Active (≥ 10 min): 10-02, 10-20, 10-25, 10-26, 10-28 (exactly 10), 10-29, 11-01.
    assert stats["streaks"] == {
        "current": 1,
        "longest": 2,
        "active_last_7": 4,
        "active_last_30": 6,
        "today": "2026-11-01",
        "day_start": "00:00",
        "min_minutes": 10.0,
    }


async def test_month_and_the_same_through_the_users_api(month: Harness) -> None:
    r = await month.get("/v1/users/alice/stats", scope="read", period="month", tz="Europe/Prague")
    stats = r.json()
    current = stats["current"]
    assert (current["first_day"], current["last_day"]) == ("2026-10-03", "2026-11-01")
    assert current["sessions"] == 6
    assert current["total_duration_s"] == 9300.0  # 30 + 60 + 20 + 30 + 15 minutes
    assert current["metrics"][0]["average"] == 75.0  # 70, 80, 90, 60
    assert stats["previous"]["sessions"] == 1  # E
    assert stats["change"]["metrics"] == {"pronunciation": 25.0}
    assert stats["change"]["improved"] == {"pronunciation": True}
    # A metric where lower is better: the same rise is a change for the worse.
    definition = {"min": 0, "max": 100, "higher_is_better": False}
    assert (await month.put("/v1/metric-definitions/pronunciation", definition)).status_code == 200
    r = await month.get("/v1/users/alice/stats", scope="read", period="month", tz="Europe/Prague")
    assert r.json()["change"]["improved"] == {"pronunciation": False}
    stats["change"]["improved"] = {"pronunciation": False}
    mine = await User(month, "alice").call(
        "GET", "/v1/me/stats", period="month", tz="Europe/Prague"
    )
    assert mine.json() == stats


async def test_the_time_zone_moves_the_days(month: Harness) -> None:
    # Now (19:00 UTC) is already 2026-11-02 04:00 in Tokyo: the week is 10-27 .. 11-02, so
    # C1 (10-26 17:00 JST) drops out and C2 (10-29 07:50 JST) belongs to the 29th.
    r = await User(month, "alice").call("GET", "/v1/me/stats", tz="Asia/Tokyo")
    current = r.json()["current"]
    assert (current["first_day"], current["last_day"]) == ("2026-10-27", "2026-11-02")
    assert current["sessions"] == 3
    assert current["metrics"][0]["trend"] == [{"date": "2026-10-29", "average": 60.0}]
    assert r.json()["streaks"]["today"] == "2026-11-02"
    # Without tz, the tenant's time zone (UTC here).
    r = await User(month, "alice").call("GET", "/v1/me/stats")
    assert r.json()["timezone"] == "UTC"
    bad = await User(month, "alice").call("GET", "/v1/me/stats", tz="Mars/Olympus")
    assert bad.status_code == 422 and bad.json()["field"] == "tz"
    assert (
        await User(month, "alice").call("GET", "/v1/me/stats", period="year")
    ).status_code == 422


async def test_recap(month: Harness) -> None:
    r = await User(month, "alice").call("GET", "/v1/me/recap", tz="Europe/Prague")
    assert r.status_code == 200, r.text
    recap = r.json()
    assert recap["focus_field"] == "areas_to_improve" and recap["learned_field"] == "vocabulary"
    # Last 7 days: C1 (10-26, six days ago, weight 1/7) and C2 (10-28, weight 3/7); P1 is older.
    focus = [(f["tag"], f["score"], f["count"], f["last_seen"]) for f in recap["focus_areas"]]
    assert focus == [("articles", 0.571, 2, "2026-10-28"), ("past tense", 0.143, 1, "2026-10-26")]
    assert all(f["why"] for f in recap["focus_areas"])
    # hotel: seen 10-20, due 10-21. reservation: seen 10-20 (due 10-21), again 10-26 (after
    # the due day: interval doubles to 2), due 10-28.
    review = [
        (i["tag"], i["repetitions"], i["interval_days"], i["due"], i["overdue_days"], i["score"])
        for i in recap["review"]
    ]
    assert review == [
        ("hotel", 1, 1, "2026-10-21", 11, 11.0),
        ("reservation", 2, 2, "2026-10-28", 4, 2.0),
    ]
    assert "due since 2026-10-28" in recap["review"][1]["why"]
    last = recap["last_session"]
    assert last["id"] == "C4" and last["ended_at"] is None and "no outcome" in last["why"]
