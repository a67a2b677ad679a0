"""Rooms: shared sessions with per-participant attendance, invitations that expire with the
room's inactivity, and a background cleanup. See ``docs/rooms.md``."""

from __future__ import annotations

from functools import partial

from sessionkeeper.feature import Feature, Subscriptions
from sessionkeeper.rooms.commands import cleanup_app
from sessionkeeper.rooms.jobs import room_jobs
from sessionkeeper.rooms.routes import router
from sessionkeeper.rooms.service import Rooms
from sessionkeeper.rooms.subscribers import (
    close_before_new_policies,
    count_events,
    derive,
    end_with_their_sessions,
    follow_policies,
    hold_through_outages,
)


def _subscriptions(rooms: Rooms) -> Subscriptions:
    return Subscriptions(
        react=[end_with_their_sessions, close_before_new_policies],
        derive=[derive],
        in_transaction=[follow_policies, hold_through_outages],
        after_commit=[partial(count_events, rooms.metrics)],
    )


FEATURE: Feature[Rooms] = Feature(
    name="rooms",
    build=Rooms.build,
    ingest_routers=[router],
    jobs=room_jobs,
    subscriptions=_subscriptions,
    commands=[("cleanup", cleanup_app)],
)
