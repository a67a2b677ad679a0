"""Prometheus metrics, one registry per running app so that tests can run several apps.

The ``kind`` label comes from what clients send, so its values are bounded: the first
``max_kinds`` distinct kinds a process sees get a label of their own, every later one is
counted as ``other``. A client inventing kinds cannot make the scrape grow without end.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sessionkeeper.domain.events import (
    ChangeEvent,
    HeartbeatsApplied,
    PresenceReconciled,
    SessionAmended,
    SessionEnded,
    SessionStarted,
)

OTHER_KIND = "other"


class KindLabels:
    """The label of each kind: itself while there is room, else ``other``."""

    def __init__(self, max_kinds: int) -> None:
        self.max_kinds = max_kinds
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, kind: str) -> str:
        if kind in self._known:
            return kind
        with self._lock:  # after-commit subscribers and scrapes run on different threads
            if len(self._known) < self.max_kinds:
                self._known.add(kind)
                return kind
        return OTHER_KIND


class Metrics:
    def __init__(self, max_kinds: int = 50) -> None:
        self.kind = KindLabels(max_kinds)
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions_started = Counter(
            "sessionkeeper_sessions_started", "Sessions started", ["kind"], registry=r
        )
        self.sessions_ended = Counter(
            "sessionkeeper_sessions_ended",
            "Sessions ended by a client, an admin or lost presence",
            ["kind", "reason"],
            registry=r,
        )
        self.sessions_timed_out = Counter(
            "sessionkeeper_sessions_timed_out",
            "Sessions closed as timed out (by the sweep, a late heartbeat or end, a snapshot)",
            ["kind"],
            registry=r,
        )
        self.sessions_amended = Counter(
            "sessionkeeper_sessions_amended",
            "Sessions closed by timeout that late evidence corrected (reopened or re-ended)",
            ["kind"],
            registry=r,
        )
        self.rate_limited = Counter(
            "sessionkeeper_rate_limited",
            "Requests refused with 429 because their key was over its rate limit",
            registry=r,
        )
        self.active_sessions = Gauge(
            "sessionkeeper_active_sessions",
            "Active sessions, counted at each scrape of /metrics",
            ["kind"],
            registry=r,
        )
        self.heartbeats = Counter(
            "sessionkeeper_heartbeats", "Heartbeats received", ["outcome"], registry=r
        )
        self.snapshot_entries = Counter(
            "sessionkeeper_presence_entries_reconciled",
            "Presence entries reconciled, by what was done with them",
            ["action"],
            registry=r,
        )
        self.sweep_duration = Histogram(
            "sessionkeeper_sweep_duration_seconds",
            "Duration of sweep runs",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.http_duration = Histogram(
            "sessionkeeper_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route", "status"],
            registry=r,
        )


def count_events(metrics: Metrics, events: Sequence[ChangeEvent]) -> None:
    """The metrics subscriber: every counter of sessions, heartbeats and presence is moved
    here, from committed change events, whichever write path made them."""
    for event in events:
        if isinstance(event, SessionStarted):
            metrics.sessions_started.labels(kind=metrics.kind(event.kind)).inc()
        elif isinstance(event, SessionEnded):
            kind = metrics.kind(event.kind)
            if event.timed_out:
                metrics.sessions_timed_out.labels(kind=kind).inc()
            else:
                metrics.sessions_ended.labels(kind=kind, reason=event.reason.value).inc()
        elif isinstance(event, SessionAmended):
            metrics.sessions_amended.labels(kind=metrics.kind(event.kind)).inc()
        elif isinstance(event, HeartbeatsApplied):
            for outcome in ("ok", "closed", "not_found"):
                if n := getattr(event, outcome):
                    metrics.heartbeats.labels(outcome=outcome).inc(n)
        elif isinstance(event, PresenceReconciled):
            for action, n in (
                ("started", event.started),
                ("refreshed", event.refreshed),
                ("ended", event.ended),
            ):
                metrics.snapshot_entries.labels(action=action).inc(n)
