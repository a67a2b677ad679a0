"""The recap's rules, table-driven: recency weights, the review schedule, metric checks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from sessionkeeper.learning.recap_rules import Mention, focus_areas, review_items, schedule
from sessionkeeper.learning.rules import MetricDefinition, metric_problem

TODAY = date(2026, 11, 10)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        ([0], (1, 1, 1)),  # first time: review tomorrow
        ([0, 0], (1, 1, 1)),  # the same day twice is one repetition
        ([0, 1], (2, 2, 3)),  # on the due day: interval doubles
        ([0, 1, 3], (3, 4, 7)),
        ([0, 1, 2], (3, 2, 4)),  # early (before due on day 3): interval kept
        ([0, 5], (2, 2, 7)),  # late: doubles once, from the day it was seen
    ],
)
def test_schedule(seen: list[int], expected: tuple[int, int, int]) -> None:
    start = date(2026, 1, 1)
    repetitions, interval, due = schedule([start + timedelta(days=d) for d in seen])
    assert (repetitions, interval, (due - start).days) == expected


def test_focus_areas_weigh_recent_mentions_more() -> None:
    mentions = [
        Mention("articles", ago(6)),  # 1/7
        Mention("articles", ago(5)),  # 2/7
        Mention("past tense", ago(0)),  # 7/7
        Mention("old", ago(7)),  # outside the 7 days
        Mention("future", ago(-1)),  # not yet
    ]
    found = focus_areas(mentions, TODAY, "areas_to_improve")
    assert [(f.tag, f.score, f.count) for f in found] == [
        ("past tense", 1.0, 1),
        ("articles", 0.429, 2),
    ]
    assert "'areas_to_improve'" in found[0].why


def test_review_items_most_overdue_first() -> None:
    mentions = [Mention("a", ago(2)), Mention("b", ago(9)), Mention("c", ago(0))]
    found = review_items(mentions, TODAY, "vocabulary")
    assert [(i.tag, i.overdue_days, i.score) for i in found] == [
        ("b", 8, 8.0),
        ("a", 1, 1.0),
        ("c", -1, -1.0),
    ]
    assert "next due" in found[2].why and "due since" in found[0].why


def test_review_score_is_lateness_in_intervals() -> None:
    # "x": seen days -12, -11 (interval 2, due -9: 9 days late, score 4.5);
    # "y": seen day -6 (interval 1, due -5: 5 days late, score 5.0) comes first.
    mentions = [Mention("x", ago(12)), Mention("x", ago(11)), Mention("y", ago(6))]
    found = review_items(mentions, TODAY, "vocabulary")
    assert [(i.tag, i.overdue_days, i.score) for i in found] == [("y", 5, 5.0), ("x", 9, 4.5)]


DEFS = {"score": MetricDefinition("score", 0, 100)}


@pytest.mark.parametrize(
    ("name", "value", "definitions", "problem"),
    [
        ("score", 50, DEFS, None),
        ("score", 0, DEFS, None),
        ("score", 100, DEFS, None),
        ("score", 100.01, DEFS, "outside its range"),
        ("score", -1, DEFS, "outside its range"),
        ("other", 1, DEFS, "not defined"),
        ("other", 1e9, {}, None),
        ("score", float("nan"), {}, "finite"),
    ],
)
def test_metric_problem(
    name: str, value: float, definitions: dict[str, MetricDefinition], problem: str | None
) -> None:
    found = metric_problem(name, value, definitions)
    assert (found is None) if problem is None else (found is not None and problem in found)
