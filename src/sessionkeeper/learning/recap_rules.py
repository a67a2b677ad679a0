"""Pure rules of the recap (a warm-up before the next session).

Focus areas: the tags of the tenant's "to improve" field in the user's sessions of the last
7 local days (today included). Each mention weighs ``(7 - age) / 7`` where ``age`` is how many
days ago its session started (today 1, six days ago 1/7), so recent trouble ranks first.

Items to review: the tags of the "learned" field, on a simple spaced-repetition schedule
derived from every session that mentioned them — so it can never disagree with the outcomes
and needs no state of its own. The first mention schedules a review one day later; a later
mention on or after the due day doubles the interval (an early one keeps it); the review is
due ``interval`` days after the last mention. An item's ``overdue_days`` is today minus its
due day, and its ``score`` that in intervals (``overdue_days / interval``): two days late on
a one-day interval is more urgent than two days late on an eight-day one. Items are listed
by score, highest first, then the longest unseen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

FOCUS_DAYS = 7
MAX_ITEMS = 10


@dataclass(frozen=True, slots=True)
class Mention:
    """One tag in one session's outcome, on the local day the session started."""

    tag: str
    day: date


@dataclass(frozen=True, slots=True)
class FocusArea:
    tag: str
    score: float
    count: int
    last_seen: date
    why: str


def focus_areas(mentions: Sequence[Mention], today: date, field: str) -> list[FocusArea]:
    scores: dict[str, float] = {}
    counts: dict[str, int] = {}
    last: dict[str, date] = {}
    for mention in mentions:
        age = (today - mention.day).days
        if not 0 <= age < FOCUS_DAYS:
            continue
        scores[mention.tag] = scores.get(mention.tag, 0.0) + (FOCUS_DAYS - age) / FOCUS_DAYS
        counts[mention.tag] = counts.get(mention.tag, 0) + 1
        last[mention.tag] = max(last.get(mention.tag, mention.day), mention.day)
    ranked = sorted(scores, key=lambda tag: (-scores[tag], tag))[:MAX_ITEMS]
    return [
        FocusArea(
            tag=tag,
            score=round(scores[tag], 3),
            count=counts[tag],
            last_seen=last[tag],
            why=f"in '{field}' of {counts[tag]} session(s) of the last {FOCUS_DAYS} days, "
            f"last on {last[tag].isoformat()}; recent ones weigh more",
        )
        for tag in ranked
    ]


@dataclass(frozen=True, slots=True)
class ReviewItem:
    tag: str
    last_seen: date
    repetitions: int
    interval_days: int
    due: date
    overdue_days: int
    score: float
    why: str


def schedule(days: Sequence[date]) -> tuple[int, int, date]:
    """(repetitions, interval in days, due day) of a tag seen on ``days``."""
    seen = sorted(set(days))
    interval = 1
    due = seen[0] + timedelta(days=interval)
    for day in seen[1:]:
        if day >= due:
            interval *= 2
        due = day + timedelta(days=interval)
    return len(seen), interval, due


def review_items(mentions: Sequence[Mention], today: date, field: str) -> list[ReviewItem]:
    by_tag: dict[str, list[date]] = {}
    for mention in mentions:
        if mention.day <= today:
            by_tag.setdefault(mention.tag, []).append(mention.day)
    items = []
    for tag, days in by_tag.items():
        repetitions, interval, due = schedule(days)
        overdue = (today - due).days
        state = (
            f"due since {due.isoformat()}"
            if overdue > 0
            else "due today"
            if overdue == 0
            else f"next due {due.isoformat()}"
        )
        items.append(
            ReviewItem(
                tag=tag,
                last_seen=max(days),
                repetitions=repetitions,
                interval_days=interval,
                due=due,
                overdue_days=overdue,
                score=round(overdue / interval, 3),
                why=f"learned in '{field}', seen on {repetitions} day(s), last on "
                f"{max(days).isoformat()}; review interval {interval} day(s), {state}",
            )
        )
    items.sort(key=lambda item: (-item.score, item.last_seen, item.tag))
    return items[:MAX_ITEMS]
