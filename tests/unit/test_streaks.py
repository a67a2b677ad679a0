"""Streak rules, table-driven: day start, minimum minutes, time zones and DST."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime

import pytest

from sessionkeeper.learning.rules import (
    StreakRules,
    minutes_per_day,
    parse_day_start,
    streak_day_of,
    streak_day_start,
    streaks,
)

PRAGUE = zoneinfo.ZoneInfo("Europe/Prague")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def at(day: str, hhmm: str, tz: zoneinfo.ZoneInfo = PRAGUE) -> int:
    local = datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=tz)
    return round(local.timestamp() * 1000)


def span(day: str, start: str, end: str, tz: zoneinfo.ZoneInfo = PRAGUE) -> tuple[int, int]:
    return at(day, start, tz), at(day, end, tz)


NOW = at("2026-11-10", "20:00")
CASES = [
    # (name, spans, day_start minutes, min_minutes, now, (current, longest, last7, last30))
    ("one session today", [span("2026-11-10", "10:00", "10:10")], 0, 5, NOW, (1, 1, 1, 1)),
    ("too short today", [span("2026-11-10", "10:00", "10:03")], 0, 5, NOW, (0, 0, 0, 0)),
    (
        "short sessions add up within a day",
        [span("2026-11-10", "10:00", "10:03"), span("2026-11-10", "18:00", "18:02")],
        0,
        5,
        NOW,
        (1, 1, 1, 1),
    ),
    (
        "today not active yet keeps yesterday's streak",
        [span("2026-11-08", "10:00", "11:00"), span("2026-11-09", "10:00", "11:00")],
        0,
        1,
        NOW,
        (2, 2, 2, 2),
    ),
    (
        "a missed day breaks it",
        [
            span("2026-11-06", "10:00", "11:00"),
            span("2026-11-07", "10:00", "11:00"),
            span("2026-11-08", "10:00", "11:00"),
            span("2026-11-10", "10:00", "11:00"),
        ],
        0,
        1,
        NOW,
        (1, 3, 4, 4),
    ),
    (
        "two days ago only: no current streak",
        [span("2026-11-08", "10:00", "11:00")],
        0,
        1,
        NOW,
        (0, 1, 1, 1),
    ),
    (
        "a night session before a 04:00 day start counts for the evening before",
        [span("2026-11-09", "22:00", "23:00"), span("2026-11-10", "02:00", "02:30")],
        4 * 60,
        45,
        at("2026-11-10", "03:00"),
        (1, 1, 1, 1),  # 60 + 30 minutes, all on the streak day 2026-11-09
    ),
    (
        "the same night at a midnight day start is two days",
        [span("2026-11-09", "22:00", "23:00"), span("2026-11-10", "02:00", "02:30")],
        0,
        45,
        at("2026-11-10", "03:00"),
        (1, 1, 1, 1),  # 2026-11-09 has 60, 2026-11-10 only 30: yesterday's streak of 1
    ),
    (
        "a session across midnight is split at it",
        [(at("2026-11-09", "23:50"), at("2026-11-10", "00:20"))],
        0,
        15,
        NOW,
        (1, 1, 1, 1),  # 10 min on the 9th (inactive), 20 on the 10th
    ),
    (
        "30 days ago is outside the last 30, 29 inside",
        [span("2026-10-11", "10:00", "11:00"), span("2026-10-12", "10:00", "11:00")],
        0,
        1,
        NOW,
        (0, 2, 0, 1),
    ),
]


@pytest.mark.parametrize(
    ("spans", "day_start", "min_minutes", "now", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_streaks(
    spans: list[tuple[int, int]],
    day_start: int,
    min_minutes: float,
    now: int,
    expected: tuple[int, int, int, int],
) -> None:
    found = streaks(spans, StreakRules(PRAGUE, day_start, min_minutes), now)
    assert (found.current, found.longest, found.active_last_7, found.active_last_30) == expected


def test_the_long_dst_day_has_25_hours_of_minutes() -> None:
    # Europe/Prague leaves summer time on 2026-10-25: 03:00 CEST becomes 02:00 CET.
    rules = StreakRules(PRAGUE, 0, 1)
    whole_day = (
        streak_day_start(date(2026, 10, 25), rules),
        streak_day_start(date(2026, 10, 26), rules),
    )
    assert minutes_per_day([whole_day], rules) == {date(2026, 10, 25): 25 * 60}
    spring = (
        streak_day_start(date(2026, 3, 29), rules),
        streak_day_start(date(2026, 3, 30), rules),
    )
    assert minutes_per_day([spring], rules) == {date(2026, 3, 29): 23 * 60}


def test_a_day_start_on_the_dst_change_day() -> None:
    rules = StreakRules(PRAGUE, 4 * 60, 1)
    start = streak_day_start(date(2026, 10, 25), rules)
    assert start == at("2026-10-25", "04:00")
    assert streak_day_of(start - 1, rules) == date(2026, 10, 24)
    assert streak_day_of(start, rules) == date(2026, 10, 25)
    # 03:30 local happens after the clocks went back: still the streak day before.
    assert streak_day_of(at("2026-10-25", "03:30"), rules) == date(2026, 10, 24)


def test_the_time_zone_decides_the_day() -> None:
    # 2026-11-10 03:00 UTC: the 10th in Prague, still the 9th in New York.
    instant = round(datetime.fromisoformat("2026-11-10T03:00:00+00:00").timestamp() * 1000)
    assert streak_day_of(instant, StreakRules(PRAGUE)) == date(2026, 11, 10)
    assert streak_day_of(instant, StreakRules(NEW_YORK)) == date(2026, 11, 9)
    session = [(instant, instant + 30 * 60_000)]
    now = instant + 60 * 60_000
    assert streaks(session, StreakRules(PRAGUE), now).today == date(2026, 11, 10)
    assert streaks(session, StreakRules(NEW_YORK), now).today == date(2026, 11, 9)


@pytest.mark.parametrize(
    ("text", "minutes"), [("00:00", 0), ("04:00", 240), ("23:59", 1439), ("07:30", 450)]
)
def test_parse_day_start(text: str, minutes: int) -> None:
    assert parse_day_start(text) == minutes


@pytest.mark.parametrize("text", ["24:00", "4", "04:60", "ab:cd", "4:5", ""])
def test_parse_day_start_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_day_start(text)
