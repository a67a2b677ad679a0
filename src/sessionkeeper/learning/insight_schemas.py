"""Response bodies of a user's statistics and recap."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from sessionkeeper.domain.times import from_ms
from sessionkeeper.learning.insights import Recap, Stats
from sessionkeeper.learning.stats_rules import Totals, Window

ESTIMATED_S = "The part of total_duration_s from estimated ends (timeout, cleanup)"
BOUNDS_S = (
    "[low, high]: where the true total lies (the sums of the sessions' duration_bounds_s); "
    "equal to total_duration_s when every end is exact"
)


class KindStatsOut(BaseModel):
    kind: str
    sessions: int
    total_duration_s: float
    average_duration_s: float | None
    estimated_s: float = Field(description=ESTIMATED_S)
    bounds_s: tuple[float, float] = Field(description=BOUNDS_S)


class TrendPointOut(BaseModel):
    date: date
    average: float


class MetricStatsOut(BaseModel):
    name: str
    average: float
    count: int
    trend: list[TrendPointOut] = Field(description="The average of each day that has a value")


class TagCountOut(BaseModel):
    tag: str
    count: int


class PeriodTotalsOut(BaseModel):
    first_day: date
    last_day: date
    sessions: int
    total_duration_s: float
    estimated_s: float = Field(description=ESTIMATED_S)
    bounds_s: tuple[float, float] = Field(description=BOUNDS_S)
    average_duration_s: float | None
    by_kind: list[KindStatsOut]
    metrics: list[MetricStatsOut]
    counters: dict[str, int]
    tags: dict[str, list[TagCountOut]] = Field(description="Most frequent first, per field")

    @classmethod
    def of(cls, window: Window, totals: Totals) -> PeriodTotalsOut:
        return cls(
            first_day=window.first,
            last_day=window.last,
            sessions=totals.sessions,
            total_duration_s=totals.total_duration_s,
            estimated_s=totals.estimated_s,
            bounds_s=totals.bounds_s,
            average_duration_s=totals.average_duration_s,
            by_kind=[KindStatsOut(**vars_of(k)) for k in totals.by_kind],
            metrics=[
                MetricStatsOut(
                    name=m.name,
                    average=m.average,
                    count=m.count,
                    trend=[TrendPointOut(date=d, average=a) for d, a in m.trend],
                )
                for m in totals.metrics
            ],
            counters=totals.counters,
            tags={
                name: [TagCountOut(tag=t, count=c) for t, c in items]
                for name, items in totals.tags.items()
            },
        )


class StatsDeltaOut(BaseModel):
    sessions: int
    total_duration_s: float
    metrics: dict[str, float] = Field(description="Average now minus average before")
    improved: dict[str, bool] = Field(
        description="Per metric in `metrics`: whether the change is for the better, by the "
        "metric definition's higher_is_better (higher is better when undefined)"
    )
    counters: dict[str, int]


class StreaksOut(BaseModel):
    current: int
    longest: int
    active_last_7: int = Field(description="Active days among the last 7, today included")
    active_last_30: int
    today: date = Field(description="Today's streak day")
    day_start: str
    min_minutes: float


class UserStatsOut(BaseModel):
    user_id: str
    period: str
    timezone: str
    current: PeriodTotalsOut
    previous: PeriodTotalsOut
    change: StatsDeltaOut
    streaks: StreaksOut

    @classmethod
    def of(cls, user_id: str, stats: Stats) -> UserStatsOut:
        s = stats.streaks
        return cls(
            user_id=user_id,
            period=stats.period,
            timezone=stats.timezone,
            current=PeriodTotalsOut.of(stats.current, stats.totals),
            previous=PeriodTotalsOut.of(stats.before, stats.previous),
            change=StatsDeltaOut(**vars_of(stats.change), improved=stats.improved),
            streaks=StreaksOut(
                current=s.current,
                longest=s.longest,
                active_last_7=s.active_last_7,
                active_last_30=s.active_last_30,
                today=s.today,
                day_start=stats.recap.day_start,
                min_minutes=stats.recap.min_minutes,
            ),
        )


class FocusAreaOut(BaseModel):
    tag: str
    score: float = Field(description="Mentions weighted by recency: today 1, six days ago 1/7")
    count: int
    last_seen: date
    why: str


class ReviewItemOut(BaseModel):
    tag: str
    last_seen: date
    repetitions: int = Field(description="Days on which the item came up")
    interval_days: int
    due: date
    overdue_days: int = Field(description="Today minus the due day (negative: not due yet)")
    score: float = Field(description="overdue_days / interval_days: the order of the list")
    why: str


class LastSessionOut(BaseModel):
    id: str
    kind: str
    label: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    metrics: dict[str, float]
    counters: dict[str, int]
    tags: dict[str, list[str]]
    why: str


class RecapOut(BaseModel):
    user_id: str
    timezone: str
    focus_field: str
    learned_field: str
    focus_areas: list[FocusAreaOut]
    review: list[ReviewItemOut]
    last_session: LastSessionOut | None

    @classmethod
    def of(cls, user_id: str, recap: Recap) -> RecapOut:
        last = None
        if recap.last is not None:
            session, outcome = recap.last
            ended = session.ended_at
            last = LastSessionOut(
                id=session.id,
                kind=session.kind,
                label=session.label,
                started_at=from_ms(session.started_at),
                ended_at=None if ended is None else from_ms(ended),
                duration_s=None if session.duration_ms is None else session.duration_ms / 1000,
                metrics={} if outcome is None else outcome.metrics,
                counters={} if outcome is None else outcome.counters,
                tags={} if outcome is None else outcome.tags,
                why="your most recent session"
                + ("" if outcome is not None else "; it has no outcome yet"),
            )
        return cls(
            user_id=user_id,
            timezone=recap.timezone,
            focus_field=recap.settings.focus_field,
            learned_field=recap.settings.learned_field,
            focus_areas=[FocusAreaOut(**vars_of(f)) for f in recap.focus],
            review=[ReviewItemOut(**vars_of(r)) for r in recap.review],
            last_session=last,
        )


def vars_of(value: Any) -> dict[str, Any]:
    """The fields of a slotted dataclass as a mapping."""
    return {name: getattr(value, name) for name in value.__dataclass_fields__}
