"""The in-transaction subscriber that marks (tenant, day) dirty when a change touches it.

It runs inside the writer's transaction (see ``storage/writer.py``), so a mark exists exactly
when the change it stands for was committed: a rollup can lag behind a change, never miss it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from sessionkeeper.clock import Clock
from sessionkeeper.domain.events import (
    ChangeEvent,
    SessionAmended,
    SessionDeleted,
    SessionEnded,
    SessionStarted,
)
from sessionkeeper.events import store as event_store
from sessionkeeper.events.changes import EventsDropped, EventsStored
from sessionkeeper.rollups import store
from sessionkeeper.rollups.rules import Part
from sessionkeeper.settings import store as settings_store
from sessionkeeper.settings.changes import TimezoneChanged
from sessionkeeper.settings.rules import days_touched, zone

# (from, to, part): the instants between which a change touched a tenant's days.
Touched = tuple[int, int, Part]
ZONES_APART_MS = 2 * 86_400_000


class ChangeMarker:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self, conn: Connection, events: Sequence[ChangeEvent]) -> None:
        now = self.clock.now_ms()
        # A set: a snapshot's hundreds of starts (and ends) mostly share one span, which is
        # then turned into days once.
        touched: dict[int, set[Touched]] = defaultdict(set)
        longest: dict[int, int] = {}
        for event in events:
            spans = self._touched(conn, event, now)
            if spans:
                touched[event.tenant_id].update(spans)
            duration = _closed_duration(event)
            if duration is not None and duration > longest.get(event.tenant_id, -1):
                longest[event.tenant_id] = duration
        # One write per tenant, not per session: a snapshot can end hundreds at once.
        for tenant_id, duration in longest.items():
            store.raise_longest(conn, tenant_id, duration)
        if not touched:
            return
        zones = settings_store.timezones_of(conn, sorted(touched))
        store.mark(
            conn,
            (
                (tenant_id, day, part)
                for tenant_id, spans in touched.items()
                for start, end, part in spans
                for day in days_touched(start, end, zone(zones[tenant_id]))
            ),
        )

    def _touched(self, conn: Connection, event: ChangeEvent, now: int) -> list[Touched]:
        sessions = Part.SESSIONS
        match event:
            case SessionStarted():
                # A start reported late may already have covered earlier days up to now.
                return [(event.started_at, now, sessions)]
            case SessionEnded():
                # Until now the session was open, and counted so on every day up to now: the
                # days after an end dated back (a late end, the sweep's estimated end) too.
                return [(event.started_at, max(event.ended_at, now), sessions)]
            case SessionAmended():
                if event.ended_at is None:  # reopened: open sessions are counted to now
                    return [(event.started_at, max(now, event.previous_ended_at), sessions)]
                return [(event.started_at, max(event.ended_at, event.previous_ended_at), sessions)]
            case SessionDeleted():
                ended = event.at if event.ended_at is None else event.ended_at
                return [(event.started_at, ended, sessions)]
            case EventsStored():
                return [(event.first_at, event.last_at, Part.EVENTS)]
            case EventsDropped():
                store.raise_events_dropped_before(conn, event.tenant_id, event.before)
                return []
            case TimezoneChanged():
                # Every local day has new boundaries: recompute the whole history, with the
                # days the old zone's dates reached beyond the new one's (zones differ < 2 d).
                firsts = [
                    first
                    for first in (
                        store.first_started(conn, event.tenant_id),
                        event_store.first_event_at(conn, event.tenant_id),
                    )
                    if first is not None
                ]
                if not firsts:
                    return []
                return [(min(firsts) - ZONES_APART_MS, now + ZONES_APART_MS, p) for p in Part]
        return []


def _closed_duration(event: ChangeEvent) -> int | None:
    """The duration a close or an amendment gave a session (the longest one is kept)."""
    match event:
        case SessionEnded() | SessionAmended() if event.ended_at is not None:
            return event.ended_at - event.started_at
    return None
