"""Activity events: page views, actions and custom events, deduplicated by a client-made id.

An event of an active session is also a heartbeat of it. Raw events may be dropped after
``SESSIONKEEPER_EVENT_RETENTION_DAYS`` (see ``rollups``); their daily aggregates stay.
"""

from __future__ import annotations

from sessionkeeper.events.routes import router
from sessionkeeper.events.service import EventService
from sessionkeeper.feature import Feature

FEATURE: Feature[EventService] = Feature(
    name="events",
    build=lambda services: EventService(services.runtime, services.sessions),
    ingest_routers=[router],
)
