"""Typed results of outcomes, end-user settings and ``/v1/me`` (unknown fields are ignored)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, TypeVar

from sessionkeeper.client.models import Json, Session, parse_time, time_or_none
from sessionkeeper.client.models import Outcome as Outcome  # where it was defined before

T = TypeVar("T")


def _day(value: str) -> date:
    return date.fromisoformat(value)


def _build(cls: type[T], data: Json, convert: Mapping[str, Callable[[Any], Any]]) -> T:
    """``cls`` from the JSON object ``data``, its fields converted by ``convert`` where named."""
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            raw = data[f.name]
            values[f.name] = convert[f.name](raw) if f.name in convert and raw is not None else raw
    return cls(**values)


def _bounds(value: list[float]) -> tuple[float, float]:
    return float(value[0]), float(value[1])


def _list(of: Callable[[Json], T]) -> Callable[[list[Json]], list[T]]:
    return lambda items: [of(item) for item in items]


@dataclass(frozen=True, slots=True)
class SessionWithOutcome(Session):
    """A session with its outcome, as ``/v1/me`` and ``/v1/users/{user_id}`` answer it (every
    session now carries ``outcome``: this is a ``Session`` under its older name)."""

    @classmethod
    def from_json(cls, data: Json) -> SessionWithOutcome:
        base = Session.from_json(data)
        return cls(**{f.name: getattr(base, f.name) for f in dataclasses.fields(Session)})


@dataclass(frozen=True, slots=True)
class UserSessionPage:
    items: list[SessionWithOutcome]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Json) -> UserSessionPage:
        return _build(cls, data, {"items": _list(SessionWithOutcome.from_json)})


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    name: str
    min: float
    max: float
    unit: str | None
    higher_is_better: bool

    @classmethod
    def from_json(cls, data: Json) -> MetricDefinition:
        return _build(cls, data, {})


@dataclass(frozen=True, slots=True)
class MetricDefinitions:
    items: list[MetricDefinition]

    @classmethod
    def from_json(cls, data: Json) -> MetricDefinitions:
        return _build(cls, data, {"items": _list(MetricDefinition.from_json)})


@dataclass(frozen=True, slots=True)
class AuthSettings:
    configured: bool
    algorithms: list[str]
    issuer: str | None
    audience: str | None
    user_claim: str | None
    leeway_s: int | None
    secret_set: bool
    jwks: Mapping[str, Any] | None
    jwks_url: str | None

    @classmethod
    def from_json(cls, data: Json) -> AuthSettings:
        return _build(cls, data, {})


@dataclass(frozen=True, slots=True)
class RecapSettings:
    focus_field: str
    learned_field: str
    day_start: str
    min_minutes: float

    @classmethod
    def from_json(cls, data: Json) -> RecapSettings:
        return _build(cls, data, {})


@dataclass(frozen=True, slots=True)
class KindStats:
    kind: str
    sessions: int
    total_duration_s: float
    average_duration_s: float | None
    # The part of the total from estimated ends, and [low, high] where the true total lies.
    estimated_s: float = 0.0
    bounds_s: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def from_json(cls, data: Json) -> KindStats:
        return _build(cls, data, {"bounds_s": _bounds})


@dataclass(frozen=True, slots=True)
class TrendPoint:
    date: date
    average: float


@dataclass(frozen=True, slots=True)
class MetricStats:
    name: str
    average: float
    count: int
    trend: list[TrendPoint]

    @classmethod
    def from_json(cls, data: Json) -> MetricStats:
        point: Callable[[Json], TrendPoint] = lambda p: TrendPoint(_day(p["date"]), p["average"])  # noqa: E731
        return _build(cls, data, {"trend": _list(point)})


@dataclass(frozen=True, slots=True)
class TagCount:
    tag: str
    count: int


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    first_day: date
    last_day: date
    sessions: int
    total_duration_s: float
    average_duration_s: float | None
    by_kind: list[KindStats]
    metrics: list[MetricStats]
    counters: Mapping[str, int]
    tags: Mapping[str, list[TagCount]]
    estimated_s: float = 0.0
    bounds_s: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def from_json(cls, data: Json) -> PeriodTotals:
        return _build(
            cls,
            data,
            {
                "first_day": _day,
                "last_day": _day,
                "by_kind": _list(KindStats.from_json),
                "bounds_s": _bounds,
                "metrics": _list(MetricStats.from_json),
                "tags": lambda t: {n: [TagCount(**c) for c in items] for n, items in t.items()},
            },
        )


@dataclass(frozen=True, slots=True)
class StatsDelta:
    sessions: int
    total_duration_s: float
    metrics: Mapping[str, float]
    counters: Mapping[str, int]
    improved: Mapping[str, bool]


@dataclass(frozen=True, slots=True)
class Streaks:
    current: int
    longest: int
    active_last_7: int
    active_last_30: int
    today: date
    day_start: str
    min_minutes: float


@dataclass(frozen=True, slots=True)
class UserStats:
    user_id: str
    period: str
    timezone: str
    current: PeriodTotals
    previous: PeriodTotals
    change: StatsDelta
    streaks: Streaks

    @classmethod
    def from_json(cls, data: Json) -> UserStats:
        return _build(
            cls,
            data,
            {
                "current": PeriodTotals.from_json,
                "previous": PeriodTotals.from_json,
                "change": lambda c: StatsDelta(**c),
                "streaks": lambda s: Streaks(**{**s, "today": _day(s["today"])}),
            },
        )


@dataclass(frozen=True, slots=True)
class FocusArea:
    tag: str
    score: float
    count: int
    last_seen: date
    why: str


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


@dataclass(frozen=True, slots=True)
class LastSession:
    id: str
    kind: str
    label: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    metrics: Mapping[str, float]
    counters: Mapping[str, int]
    tags: Mapping[str, list[str]]
    why: str


@dataclass(frozen=True, slots=True)
class Recap:
    user_id: str
    timezone: str
    focus_field: str
    learned_field: str
    focus_areas: list[FocusArea]
    review: list[ReviewItem]
    last_session: LastSession | None
    DAYS: ClassVar[tuple[str, ...]] = ("last_seen", "due")

    @classmethod
    def from_json(cls, data: Json) -> Recap:
        def dated(of: type[Any]) -> Callable[[Json], Any]:
            return lambda item: of(**{k: _day(v) if k in cls.DAYS else v for k, v in item.items()})

        return _build(
            cls,
            data,
            {
                "focus_areas": _list(dated(FocusArea)),
                "review": _list(dated(ReviewItem)),
                "last_session": lambda s: LastSession(
                    **{
                        **s,
                        "started_at": parse_time(s["started_at"]),
                        "ended_at": time_or_none(s["ended_at"]),
                    }
                ),
            },
        )


@dataclass(frozen=True, slots=True)
class Erased:
    user_id: str
    erased: Mapping[str, int] = field(default_factory=dict)
