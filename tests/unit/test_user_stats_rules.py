"""The duration sums of a user's statistics (``learning/stats_rules.py``): the total, its part
from estimated ends and its bounds, table-driven. Each session's bounds are handed in (the
kernel's ``lifecycle.duration_bounds``); the rules only add them up."""

from __future__ import annotations

import zoneinfo

import pytest

from sessionkeeper.learning.stats_rules import Durations, SessionFacts, durations, totals

UTC = zoneinfo.ZoneInfo("UTC")
T0 = 1_767_603_600_000  # 2026-01-05 09:00 UTC


def fact(
    n: int,
    duration_ms: int | None,
    bounds: tuple[int, int] | None = None,
    *,
    estimated: bool = False,
    kind: str = "lesson",
) -> SessionFacts:
    if duration_ms is not None and bounds is None:
        bounds = (duration_ms, duration_ms)
    return SessionFacts(
        id=f"s{n}",
        kind=kind,
        started_at=T0 + n * 1000,
        duration_ms=duration_ms,
        duration_bounds_ms=bounds,
        estimated=estimated,
    )


CASES: list[tuple[str, list[SessionFacts], Durations]] = [
    ("nothing", [], Durations(0, 0, 0, 0)),
    ("one exact end", [fact(1, 60_000)], Durations(60_000, 0, 60_000, 60_000)),
    (
        "exact ends only: the bounds close on the total",
        [fact(1, 60_000), fact(2, 1_500)],
        Durations(61_500, 0, 61_500, 61_500),
    ),
    (
        "a timeout: estimated, between the last beat and the next one due",
        [fact(1, 25_000, (20_000, 30_000), estimated=True)],
        Durations(25_000, 25_000, 20_000, 30_000),
    ),
    (
        "lost presence: exact, yet bounded by the snapshots around it",
        [fact(1, 30_000, (20_000, 30_000))],
        Durations(30_000, 0, 20_000, 30_000),
    ),
    (
        "an open session adds nothing",
        [fact(1, None), fact(2, 10_000)],
        Durations(10_000, 0, 10_000, 10_000),
    ),
    (
        "a mix: each part sums on its own",
        [
            fact(1, 100_000),
            fact(2, 25_000, (20_000, 30_000), estimated=True),
            fact(3, 30_000, (20_000, 30_000)),
            fact(4, None),
        ],
        Durations(155_000, 25_000, 140_000, 160_000),
    ),
    (
        "a closed session without bounds counts as exact",
        [SessionFacts("s1", "lesson", T0, 7_000)],
        Durations(7_000, 0, 7_000, 7_000),
    ),
]


@pytest.mark.parametrize(("name", "sessions", "expected"), CASES, ids=[c[0] for c in CASES])
def test_durations(name: str, sessions: list[SessionFacts], expected: Durations) -> None:
    assert durations(sessions) == expected


@pytest.mark.parametrize(("name", "sessions", "expected"), CASES, ids=[c[0] for c in CASES])
def test_totals_carry_the_sums_in_seconds(
    name: str, sessions: list[SessionFacts], expected: Durations
) -> None:
    found = totals(sessions, UTC)
    assert found.total_duration_s == expected.total_ms / 1000
    assert found.estimated_s == expected.estimated_ms / 1000
    assert found.bounds_s == (expected.low_ms / 1000, expected.high_ms / 1000)
    low, high = found.bounds_s
    assert low <= found.total_duration_s <= high
    assert 0 <= found.estimated_s <= found.total_duration_s


Sums = tuple[float, float, tuple[float, float]]  # total, estimated, bounds (seconds)
KIND_CASES: list[tuple[str, list[SessionFacts], dict[str, Sums]]] = [
    (
        "per kind",
        [
            fact(1, 100_000),
            fact(2, 25_000, (20_000, 30_000), estimated=True),
            fact(3, 30_000, (20_000, 30_000), kind="voice"),
            fact(4, None, kind="voice"),
        ],
        {"lesson": (125.0, 25.0, (120.0, 130.0)), "voice": (30.0, 0.0, (20.0, 30.0))},
    ),
    (
        "milliseconds survive",
        [fact(1, 1_234), fact(2, 2_001, (1_000, 3_000), estimated=True, kind="call")],
        {"lesson": (1.234, 0.0, (1.234, 1.234)), "call": (2.001, 2.001, (1.0, 3.0))},
    ),
    ("open only", [fact(1, None)], {"lesson": (0.0, 0.0, (0.0, 0.0))}),
]


@pytest.mark.parametrize(
    ("name", "sessions", "expected"), KIND_CASES, ids=[c[0] for c in KIND_CASES]
)
def test_by_kind(
    name: str,
    sessions: list[SessionFacts],
    expected: dict[str, Sums],
) -> None:
    found = {
        k.kind: (k.total_duration_s, k.estimated_s, k.bounds_s)
        for k in totals(sessions, UTC).by_kind
    }
    assert found == expected


def test_an_average_of_metrics_near_the_float_limit_is_no_overflow() -> None:
    sessions = [
        SessionFacts(f"s{n}", "lesson", T0 + n, 1000, metrics={"m": 1e308}) for n in range(2)
    ]
    [metric] = totals(sessions, UTC).metrics
    assert metric.average == 1e308 and metric.count == 2
    assert [average for _, average in metric.trend] == [1e308]
