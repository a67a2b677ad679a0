"""A user's statistics, streaks and recap, read from their sessions and outcomes."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.errors import InvalidInput
from sessionkeeper.learning import store
from sessionkeeper.learning.recap_rules import (
    FocusArea,
    Mention,
    ReviewItem,
    focus_areas,
    review_items,
)
from sessionkeeper.learning.rules import StreakRules, Streaks, streaks
from sessionkeeper.learning.service import Learning, RecapSettings
from sessionkeeper.learning.stats_rules import (
    PERIOD_DAYS,
    Change,
    SessionFacts,
    Totals,
    Window,
    change,
    previous,
    totals,
    window,
)
from sessionkeeper.learning.store import Outcome
from sessionkeeper.settings.rules import day_of, timezone_error, zone
from sessionkeeper.settings.service import SettingsService


@dataclass(frozen=True, slots=True)
class Stats:
    period: str
    timezone: str
    current: Window
    before: Window
    totals: Totals
    previous: Totals
    change: Change
    streaks: Streaks
    recap: RecapSettings
    # Metric name: whether its change is for the better (by its definition's
    # ``higher_is_better``; higher is better for an undefined metric).
    improved: dict[str, bool]


@dataclass(frozen=True, slots=True)
class Recap:
    timezone: str
    settings: RecapSettings
    focus: list[FocusArea]
    review: list[ReviewItem]
    last: tuple[Session, Outcome | None] | None


def _facts(session: Session, outcome: Outcome | None) -> SessionFacts:
    outcome = outcome or Outcome()
    return SessionFacts(
        id=session.id,
        kind=session.kind,
        started_at=session.started_at,
        duration_ms=session.duration_ms,
        # The kernel's bounds of this session, as GET /v1/sessions/{id} gives them.
        duration_bounds_ms=session.duration_bounds_ms,
        estimated=session.estimated and session.ended_at is not None,
        metrics=outcome.metrics,
        counters=outcome.counters,
        tags=outcome.tags,
    )


def _span(session: Session) -> tuple[int, int]:
    """Where the session was going: to its end, or to its last heartbeat while active."""
    end = session.ended_at if session.status is not Status.ACTIVE else None
    return session.started_at, end if end is not None else session.last_seen_at


class Insights:
    def __init__(self, learning: Learning) -> None:
        self.learning = learning
        self.rt = learning.rt

    async def _zone(self, principal: Principal, tz: str | None) -> tuple[str, zoneinfo.ZoneInfo]:
        if tz is None:
            tz = await self.learning.services.of(SettingsService).timezone(principal)
        error = timezone_error(tz)
        if error is not None:
            raise InvalidInput(error, field="tz", code="unknown_timezone")
        return tz, zone(tz)

    async def _sessions(
        self, principal: Principal, started_after: int | None = None
    ) -> list[tuple[Session, Outcome | None]]:
        user = principal.user_id or ""
        now = self.rt.clock.now_ms()
        rows = await self.rt.db.reader.run(
            lambda conn: store.user_sessions(conn, principal, user, started_after=started_after)
        )
        return [(s.as_of(now), o) for s, o in rows]

    async def stats(self, principal: Principal, *, period: str, tz: str | None) -> Stats:
        name, tzinfo = await self._zone(principal, tz)
        recap = await self.learning.recap_settings(principal)
        now = self.rt.clock.now_ms()
        today = day_of(now, tzinfo)
        current = window(today, PERIOD_DAYS[period], tzinfo)
        before = previous(current, tzinfo)
        # Every session: the longest streak may lie anywhere in the user's history.
        rows = await self._sessions(principal)
        in_current = [
            _facts(s, o) for s, o in rows if current.start_ms <= s.started_at < current.end_ms
        ]
        in_before = [
            _facts(s, o) for s, o in rows if before.start_ms <= s.started_at < before.end_ms
        ]
        mine, earlier = totals(in_current, tzinfo), totals(in_before, tzinfo)
        rules = StreakRules(tzinfo, recap.day_start_minutes, recap.min_minutes)
        definitions = await self.learning.definitions(principal)
        delta = change(mine, earlier)
        improved = {
            name: value != 0
            and (value > 0) == (definitions[name].higher_is_better if name in definitions else True)
            for name, value in delta.metrics.items()
        }
        return Stats(
            period=period,
            timezone=name,
            current=current,
            before=before,
            totals=mine,
            previous=earlier,
            change=delta,
            streaks=streaks([_span(s) for s, _ in rows if s.started_at <= now], rules, now),
            recap=recap,
            improved=improved,
        )

    async def recap(self, principal: Principal, *, tz: str | None) -> Recap:
        name, tzinfo = await self._zone(principal, tz)
        settings = await self.learning.recap_settings(principal)
        now = self.rt.clock.now_ms()
        today = day_of(now, tzinfo)
        rows = await self._sessions(principal)
        focus: list[Mention] = []
        learned: list[Mention] = []
        for session, outcome in rows:
            if outcome is None:
                continue
            day = day_of(session.started_at, tzinfo)
            focus += [Mention(t, day) for t in outcome.tags.get(settings.focus_field, [])]
            learned += [Mention(t, day) for t in outcome.tags.get(settings.learned_field, [])]
        started = [(s, o) for s, o in rows if s.started_at <= now]
        last = max(started, key=lambda row: (row[0].started_at, row[0].id), default=None)
        return Recap(
            timezone=name,
            settings=settings,
            focus=focus_areas(focus, today, settings.focus_field),
            review=review_items(learned, today, settings.learned_field),
            last=last,
        )
