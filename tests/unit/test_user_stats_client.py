"""The Python client reads how far a user's duration totals can be trusted."""

from __future__ import annotations

from datetime import date
from typing import Any

from sessionkeeper.client.learning_models import UserStats


def _period(first: str, last: str, total: float, bounds: list[float]) -> dict[str, Any]:
    return {
        "first_day": first,
        "last_day": last,
        "sessions": 2,
        "total_duration_s": total,
        "estimated_s": 25.0,
        "bounds_s": bounds,
        "average_duration_s": total / 2,
        "by_kind": [
            {
                "kind": "lesson",
                "sessions": 2,
                "total_duration_s": total,
                "average_duration_s": total / 2,
                "estimated_s": 25.0,
                "bounds_s": bounds,
            }
        ],
        "metrics": [],
        "counters": {},
        "tags": {},
    }


def test_bounds_are_read_as_pairs() -> None:
    stats = UserStats.from_json(
        {
            "user_id": "alice",
            "period": "week",
            "timezone": "UTC",
            "current": _period("2026-01-06", "2026-01-12", 125.0, [120.0, 130]),
            "previous": _period("2025-12-30", "2026-01-05", 50.0, [40, 60]),
            "change": {
                "sessions": 0,
                "total_duration_s": 75.0,
                "metrics": {},
                "improved": {},
                "counters": {},
            },
            "streaks": {
                "current": 1,
                "longest": 1,
                "active_last_7": 1,
                "active_last_30": 1,
                "today": "2026-01-12",
                "day_start": "00:00",
                "min_minutes": 10.0,
            },
        }
    )
    assert stats.current.first_day == date(2026, 1, 6)
    assert (stats.current.estimated_s, stats.current.bounds_s) == (25.0, (120.0, 130.0))
    assert stats.current.by_kind[0].bounds_s == (120.0, 130.0)
    assert stats.previous.bounds_s == (40.0, 60.0)
    assert isinstance(stats.previous.by_kind[0].bounds_s[0], float)
