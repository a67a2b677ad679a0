"""What rooms hear of change events: the participants and rooms the kernel's own closes
stand for, policy changes to follow, and the Prometheus counters."""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.engine import Connection

from sessionkeeper.domain.events import ChangeEvent, PolicyChanged, ServiceResumed, SessionEnded
from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.rooms import rules, store
from sessionkeeper.rooms.cleanup_store import close_inactive, tenant_operator
from sessionkeeper.rooms.events import ParticipantJoined, ParticipantLeft, RoomClosed, RoomCreated
from sessionkeeper.storage import policies as policy_store
from sessionkeeper.storage.transaction import Transaction

# Ends a client asks for (through the sessions API, for a room's own session).
_REQUESTED_ENDS = frozenset({EndReason.CLIENT, EndReason.ADMIN, EndReason.CLEANUP})


def _rooms_ended_by_request(conn: Connection, events: Sequence[ChangeEvent]) -> list[SessionEnded]:
    """The rooms whose own session was ended through the sessions API, not by the rooms'
    own writes (which announce a :class:`RoomClosed`)."""
    closed = {(e.tenant_id, e.room_id) for e in events if isinstance(e, RoomClosed)}
    maybe_rooms: dict[int, list[SessionEnded]] = {}
    for event in events:
        if (
            isinstance(event, SessionEnded)
            and event.room_id is None
            and event.reason in _REQUESTED_ENDS
            and (event.tenant_id, event.session_id) not in closed
        ):
            maybe_rooms.setdefault(event.tenant_id, []).append(event)
    found: list[SessionEnded] = []
    for tenant_id, ended in sorted(maybe_rooms.items()):
        rooms = store.room_ids(conn, tenant_id, [e.session_id for e in ended])
        found.extend(e for e in ended if e.session_id in rooms)
    return found


def end_with_their_sessions(tx: Transaction, events: Sequence[ChangeEvent]) -> None:
    """A room whose session was ended through the sessions API ends as ``POST
    /v1/rooms/{id}/end`` ends it: announced closed, its attendances closing with it at once
    instead of staying present, and beating, until the next cleanup."""
    for ended in _rooms_ended_by_request(tx.conn, events):
        tx.record(store.room_closed(ended))
        principal = tenant_operator(ended.tenant_id)
        at = ended.ended_at
        store.end_attendances(tx, principal, ended.session_id, at=at, ended_at=at)


def close_before_new_policies(tx: Transaction, events: Sequence[ChangeEvent]) -> None:
    """Rooms inactive when a policy changes are closed first, by the cleanup's rule and under
    the timing they went quiet with, as the cleanup would have closed them: reads already
    showed them expired, and a longer room timeout must not bring them back (an expired
    invitation valid again, a join into a room that had ended)."""
    changed = {e.tenant_id: e.at for e in events if isinstance(e, PolicyChanged)}
    for tenant_id, at in sorted(changed.items()):
        room_ids = store.marked_inactive(tx.conn, tenant_id, at)
        if room_ids:
            store.restore_timing(tx.conn, tenant_id, room_ids)
            close_inactive(tx, tenant_operator(tenant_id), room_ids, at)


def derive(conn: Connection, events: Sequence[ChangeEvent]) -> list[ChangeEvent]:
    """Room events for the closes the rooms' own writes did not announce: an attendance
    closed by the sweep (or through the sessions API) is a participant who left. (A room's
    session ended through the sessions API was announced by ``end_with_their_sessions``.)"""
    told = {(e.tenant_id, e.attendance_id) for e in events if isinstance(e, ParticipantLeft)}
    return [
        store.participant_left(event, rules.leave_reason(event.reason))
        for event in events
        if isinstance(event, SessionEnded)
        and event.room_id is not None
        and (event.tenant_id, event.session_id) not in told
    ]


def hold_through_outages(conn: Connection, events: Sequence[ChangeEvent]) -> None:
    """The service's own outage is no room's inactivity (in the recovery's transaction)."""
    for event in events:
        if isinstance(event, ServiceResumed):
            store.hold_through_outage(conn, event.unavailable_since, event.at)


def follow_policies(conn: Connection, events: Sequence[ChangeEvent]) -> None:
    """A changed policy reached every active session of its kind with the kernel's timing;
    open rooms and their attendances take theirs from it instead, in the same transaction."""
    for tenant_id in sorted({e.tenant_id for e in events if isinstance(e, PolicyChanged)}):
        store.apply_policies(conn, tenant_id, policy_store.load(conn, tenant_id))


class RoomMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rooms_created = Counter(
            "sessionkeeper_rooms_created", "Rooms created", ["kind"], registry=registry
        )
        self.rooms_closed = Counter(
            "sessionkeeper_rooms_closed",
            "Rooms closed: ended by a client, or by the cleanup once inactive",
            ["kind", "reason"],
            registry=registry,
        )
        self.participants_joined = Counter(
            "sessionkeeper_participants_joined",
            "Attendances begun in rooms (first joins and joins after leaving)",
            ["kind"],
            registry=registry,
        )
        self.participants_left = Counter(
            "sessionkeeper_participants_left",
            "Attendances ended in rooms, by why: client, timeout, room_ended",
            ["kind", "reason"],
            registry=registry,
        )


# One set of counters per registry: the services of a process may be built more than once
# (the CLI's serve does), and a registry refuses a counter registered twice.
_METRICS: weakref.WeakKeyDictionary[CollectorRegistry, RoomMetrics] = weakref.WeakKeyDictionary()


def room_metrics(registry: CollectorRegistry) -> RoomMetrics:
    if registry not in _METRICS:
        _METRICS[registry] = RoomMetrics(registry)
    return _METRICS[registry]


def count_events(metrics: RoomMetrics, events: Sequence[ChangeEvent]) -> None:
    """The after-commit subscriber that moves the room counters."""
    for event in events:
        if isinstance(event, RoomCreated):
            metrics.rooms_created.labels(kind=event.kind).inc()
        elif isinstance(event, RoomClosed):
            metrics.rooms_closed.labels(kind=event.kind, reason=event.reason.value).inc()
        elif isinstance(event, ParticipantJoined):
            metrics.participants_joined.labels(kind=event.kind).inc()
        elif isinstance(event, ParticipantLeft):
            metrics.participants_left.labels(kind=event.kind, reason=event.reason.value).inc()
