"""SQL for heartbeats: single, combined, batched, and the refresh of presence sources.

The common case — a beat for an active session, made after its last one and before its
deadline, keeping it open — is the one conditional UPDATE of the lifecycle rules
(``heartbeat_condition`` and ``heartbeat_values``). Everything else (a beat arriving after the
session was closed by timeout, one that came too late to keep it open, a batch with beats
for one session that must chain in time order) reads the rows under lock and lets the pure
rules (``lifecycle.heartbeats``) decide; ``sessions.save`` writes what they decided.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from operator import itemgetter
from typing import Any, ClassVar, Generic, Literal, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from sessionkeeper.domain import attributes as attribute_rules
from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.events import HeartbeatsApplied
from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.errors import InvalidInput
from sessionkeeper.storage import beat_sets
from sessionkeeper.storage.dialect import among
from sessionkeeper.storage.heartbeat_rule import Beats
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.session_inserts import STORED_COLUMNS
from sessionkeeper.storage.sessions import (
    SESSION_COLUMNS,
    lock,
    row_to_session,
    save,
    session_key,
)
from sessionkeeper.storage.source_beats import EXPIRES_AT, LAST_SEEN_AT, not_overdue_at
from sessionkeeper.storage.tables import sessions as t
from sessionkeeper.storage.transaction import Transaction

HeartbeatOutcome = Literal["ok", "closed", "not_found"]


def _applied(tenant_id: int, outcomes: Iterable[HeartbeatOutcome]) -> HeartbeatsApplied:
    counted = list(outcomes)
    return HeartbeatsApplied(
        tenant_id=tenant_id,
        ok=counted.count("ok"),
        closed=counted.count("closed"),
        not_found=counted.count("not_found"),
    )


def _by_rules(
    tx: Transaction,
    principal: Principal,
    beats: Sequence[tuple[str, int, int]],
) -> list[tuple[HeartbeatOutcome, Session | None]]:
    """Apply beats ``(session id, at, now)`` by the pure rules on the locked rows: each
    session's beats in time order, judged at the latest ``now`` among them."""
    found = lock(tx.conn, principal, (sid for sid, _, _ in beats))
    positions: dict[str, list[int]] = {}
    for index, (sid, _, _) in enumerate(beats):
        positions.setdefault(sid, []).append(index)
    results: list[tuple[HeartbeatOutcome, Session | None]] = [("not_found", None)] * len(beats)
    changes: list[tuple[Session, lifecycle.Lifecycle]] = []
    counted_by_index: dict[int, bool] = {}
    for sid, indexes in positions.items():
        session = found.get(sid)
        if session is None:
            continue
        now = max(beats[i][2] for i in indexes)
        state, counted = lifecycle.heartbeats(
            session.lifecycle, [beats[i][1] for i in indexes], now
        )
        changes.append((session, state))
        counted_by_index.update(zip(indexes, counted, strict=True))
    saved = {s.id: s for s in save(tx, principal, changes)}
    for index, (sid, _, _) in enumerate(beats):
        if sid in saved:
            results[index] = ("ok" if counted_by_index[index] else "closed", saved[sid])
    return results


def late_beats(
    tx: Transaction, principal: Principal, beats: Sequence[tuple[str, int, int]]
) -> list[tuple[HeartbeatOutcome, Session | None]]:
    """Beats ``(session id, at, now)`` of sessions overdue or closed by timeout, judged by the
    pure rules (``lifecycle.heartbeats``): each amends its session if it was alive at ``at``.
    Records no heartbeat: for writes that carry other evidence (a late presence snapshot)."""
    return _by_rules(tx, principal, beats)


def heartbeat(
    tx: Transaction, principal: Principal, session_id: str, *, at: int, now: int
) -> tuple[HeartbeatOutcome, Session | None]:
    """Move ``last_seen_at`` to ``at`` if later and the session was alive then."""
    # Not one overdue at ``now``: the rules take it as the sweep would have closed it.
    which = sa.and_(session_key(principal, session_id), not_overdue_at(now))
    rows = Beats(which, at).rows(tx.conn, STORED_COLUMNS)
    moved = rows[0]._mapping if rows else None
    if moved is not None and moved["expires_at"] >= now:
        result: tuple[HeartbeatOutcome, Session | None] = ("ok", row_to_session(moved))
    else:  # closed meanwhile, older, or too late to keep the session open: the rules decide
        result = _by_rules(tx, principal, [(session_id, at, now)])[0]
    tx.record(_applied(principal.tenant_id, [result[0]]))
    return result


# A state's fields in a row of ``_STATE``'s columns: id, status, last beat, deadline.
_STATE_FIELDS = itemgetter(1, 2, 3, 4)
# A status by its stored value without the Enum call's lookup machinery: a batch reads a
# thousand.
_STATUS_OF = {status.value: status for status in Status}


class BeatState(NamedTuple):
    """What the answer to a batch of beats needs of a session: less to read than a session.

    A named tuple, not a frozen dataclass: as immutable, and built in half the time (a frozen
    dataclass sets each field through ``object.__setattr__``), and a batch builds a thousand
    in the writer's thread."""

    id: str
    status: Status
    last_seen_at: int
    expires_at: int

    @classmethod
    def of_row(cls, row: Row[Any]) -> BeatState:
        # By position (the columns of ``_STATE``, below; a statement may return more after
        # them): a Row's attribute access costs more than building the state, and a batch
        # reads a thousand of them.
        session_id, status, last_seen_at, expires_at = _STATE_FIELDS(row)
        return cls(session_id, _STATUS_OF[status], last_seen_at, expires_at)

    @classmethod
    def of_session(cls, session: Session) -> BeatState:
        return cls(session.id, session.status, session.last_seen_at, session.expires_at)


Read = TypeVar("Read", Session, BeatState)


@dataclass(frozen=True, slots=True)
class _Reading(Generic[Read]):
    """How beats applied together read their sessions back: whole, or their state only.

    ``returned`` come back from the rows an UPDATE moved (which hold their last beat
    themselves); ``selected`` are read from rows it did not move, a source's beat included.
    Both begin with the tenant and the id, which the rows are keyed by."""

    returned: tuple[sa.ColumnElement[Any], ...]
    selected: tuple[sa.ColumnElement[Any], ...]
    of_row: Callable[[Row[Any]], Read]
    of_session: Callable[[Session], Read]


_WHOLE: _Reading[Session] = _Reading(
    tuple(STORED_COLUMNS),
    tuple(SESSION_COLUMNS),
    lambda row: row_to_session(row._mapping),
    lambda s: s,
)
_STATE: _Reading[BeatState] = _Reading(
    (t.c.tenant_id, t.c.id, t.c.status, t.c.last_seen_at, t.c.expires_at),
    (
        t.c.tenant_id,
        t.c.id,
        t.c.status,
        LAST_SEEN_AT.label("last_seen_at"),
        EXPIRES_AT.label("expires_at"),
    ),
    BeatState.of_row,
    BeatState.of_session,
)

# A row read back, by position: both readings begin with the tenant and the id.
_TENANT_AND_ID = itemgetter(0, 1)
_ID = itemgetter(1)

# Not a session overdue at the group's latest ``now``: the rules take that one, at its
# beat's own ``now`` (``lifecycle.heartbeats`` first closes it as the sweep would).
_HEARTBEAT_MANY = Beats(
    sa.and_(
        t.c.tenant_id == sa.bindparam("h_tenant"),
        t.c.id == sa.bindparam("h_id"),
        not_overdue_at(sa.bindparam("h_now", type_=sa.BigInteger)),
    ),
    sa.bindparam("h_at", type_=sa.BigInteger),
)


# A beat applied together with others: (tenant id, session id, at, now).
GroupBeat = tuple[int, str, int, int]


@dataclass(frozen=True, slots=True)
class BeatGroup:
    """Beats applied together, in their callers' order, with the UPDATE's parameters made
    already: for a batch they are made before the writer's turn (sorting and encoding a
    thousand beats was a fifth of the writer thread's time, which the event loop can spend
    while the writer waits on the database).

    The beats go to the database sorted (processes writing the same rows in one order cannot
    deadlock each other, and a session's beats go in time order): as one statement when the
    group names each session once (``beat_sets``), else as an ``executemany``."""

    principals: Mapping[int, Principal]  # by tenant; each sees its whole tenant
    beats: Sequence[GroupBeat]
    together: dict[str, Any] | None  # ``beat_sets.params``, when each session appears once
    one_by_one: list[dict[str, Any]]  # else the ``executemany``'s, in order

    @property
    def tenant(self) -> int | None:
        """The tenant of every beat when there is one (every batch, most groups of single
        heartbeats): the group's rows then need no filing by tenant one by one."""
        return next(iter(self.principals)) if len(self.principals) == 1 else None

    @classmethod
    def of(
        cls, dialect: str, principals: Mapping[int, Principal], beats: Sequence[GroupBeat]
    ) -> BeatGroup:
        ordered = sorted((tenant, sid, at) for tenant, sid, at, _ in beats)
        # Sessions overdue by the latest ``now`` are left to the rules, which judge each beat
        # at its own: more than needed for an earlier beat, never less.
        latest = max(now for _, _, _, now in beats)
        if len({(tenant, sid) for tenant, sid, _ in ordered}) == len(ordered):
            return cls(principals, beats, beat_sets.params(dialect, ordered, latest), [])
        many = [
            {"h_tenant": tenant, "h_id": sid, "h_at": at, "h_now": latest}
            for tenant, sid, at in ordered
        ]
        return cls(principals, beats, None, many)


@dataclass(frozen=True, slots=True)
class HeartbeatOp:
    """A single heartbeat as a writer op; neighbouring ones are applied together.

    Only for principals that see their whole tenant: the combined statement binds the
    tenant alone (see :func:`heartbeat_op`).
    """

    combine_key: ClassVar[str] = "heartbeat"
    principal: Principal
    session_id: str
    at: int
    now: int

    def __call__(self, tx: Transaction) -> tuple[HeartbeatOutcome, Session | None]:
        return heartbeat(tx, self.principal, self.session_id, at=self.at, now=self.now)

    @classmethod
    def run_combined(
        cls, tx: Transaction, ops: list[HeartbeatOp]
    ) -> list[tuple[HeartbeatOutcome, Session | None]]:
        """One UPDATE for all (``beat_sets``), a read of what it did not return, and the rules
        for the few beats that could not settle; the same outcomes as one by one."""
        principals: dict[int, Principal] = {}
        for op in ops:
            principals.setdefault(op.principal.tenant_id, op.principal)
        beats = [(op.principal.tenant_id, op.session_id, op.at, op.now) for op in ops]
        return _apply_many(tx, BeatGroup.of(tx.conn.dialect.name, principals, beats), _WHOLE)


def _update_all(
    tx: Transaction, group: BeatGroup, reading: _Reading[Read]
) -> dict[int, dict[str, Read]]:
    """Run the conditional UPDATE for every beat; the rows it moved, by tenant and id, when
    the group names each session once, else nothing and the caller reads them."""
    if group.together is None:
        _HEARTBEAT_MANY.count(tx.conn, group.one_by_one)
        return {}
    moved = beat_sets.update(tx.conn, group.together, reading.returned)
    if group.tenant is not None:
        return {group.tenant: {_ID(r): reading.of_row(r) for r in moved}}
    by_tenant: dict[int, dict[str, Read]] = {}
    for r in moved:
        tenant_id, session_id = _TENANT_AND_ID(r)
        by_tenant.setdefault(tenant_id, {})[session_id] = reading.of_row(r)
    return by_tenant


def _indexes_by_tenant(group: BeatGroup) -> Mapping[int, Sequence[int]]:
    """The positions of the group's beats, by tenant."""
    if group.tenant is not None:
        return {group.tenant: range(len(group.beats))}
    by_tenant: dict[int, list[int]] = {}
    for index, beat in enumerate(group.beats):
        by_tenant.setdefault(beat[0], []).append(index)
    return by_tenant


def _apply_many(
    tx: Transaction, group: BeatGroup, reading: _Reading[Read]
) -> list[tuple[HeartbeatOutcome, Read | None]]:
    """Beats of principals that see their whole tenant: the conditional UPDATE for all of them
    at once, in time order per session (so each beat extends the chain the one before
    established, as ``lifecycle.heartbeats`` does), a read per tenant of the rows it did not
    return, and the rules for what that could not settle (closed sessions, late evidence,
    real gaps)."""
    moved = _update_all(tx, group, reading)
    beats = group.beats
    results: list[tuple[HeartbeatOutcome, Read | None]] = [("not_found", None)] * len(beats)
    for tenant_id, indexes in _indexes_by_tenant(group).items():
        principal = group.principals[tenant_id]
        rows = moved.get(tenant_id, {})
        unread = list({beats[i][1] for i in indexes} - rows.keys())
        if unread:
            ids = among(tx.conn, t.c.id, unread)
            query = sa.select(*reading.selected).where(visible_to(t, principal), ids)
            rows.update((r.id, reading.of_row(r)) for r in tx.conn.execute(query))
        unsettled = []
        for i in indexes:
            _, sid, at, now = beats[i]
            session = rows.get(sid)
            if _kept_open(session, at, now):
                results[i] = ("ok", session)
            else:
                unsettled.append(i)
        if unsettled:
            ruling = [beats[i][1:] for i in unsettled]
            after: dict[str, Read | None] = {}
            for i, (outcome, ruled_session) in zip(
                unsettled, _by_rules(tx, principal, ruling), strict=True
            ):
                read = None if ruled_session is None else reading.of_session(ruled_session)
                results[i] = (outcome, read)
                after[beats[i][1]] = read
            # A beat the fast path settled answers with its session as the rules left it.
            ruled = set(unsettled)
            for i in indexes:
                sid = beats[i][1]
                if sid in after and i not in ruled and after[sid] is not None:
                    results[i] = (results[i][0], after[sid])
        tx.record(_applied(tenant_id, (results[i][0] for i in indexes)))
    return results


def _kept_open(session: Session | BeatState | None, at: int, now: int) -> bool:
    """The fast path's answer holds: the session is active, past ``at`` and open at ``now``."""
    return (
        session is not None
        and session.status is Status.ACTIVE
        and session.last_seen_at >= at
        and session.expires_at >= now
    )


def merge_attributes(
    tx: Transaction, principal: Principal, session: Session, attributes: Mapping[str, Any]
) -> Session:
    """Merge ``attributes`` into the session's, within the caps of ``domain/attributes.py``:
    a merged result over a cap is refused (422), like the same attributes at the start."""
    merged = {**session.attributes, **attributes}
    problem = attribute_rules.problem(merged)
    if problem is not None:
        raise InvalidInput(f"merged with the stored attributes, {problem}", field="attributes")
    tx.conn.execute(t.update().where(session_key(principal, session.id)).values(attributes=merged))
    return replace(session, attributes=merged)


def heartbeat_op(
    principal: Principal, session_id: str, *, at: int, now: int
) -> HeartbeatOp | partial[tuple[HeartbeatOutcome, Session | None]]:
    """The writer op for one heartbeat: combinable when the principal sees its whole tenant."""
    if principal.user_id is None:
        return HeartbeatOp(principal, session_id, at=at, now=now)
    return partial(heartbeat, principal=principal, session_id=session_id, at=at, now=now)


BatchResults = list[tuple[HeartbeatOutcome, BeatState | None]]


def batch_op(
    dialect: str, principal: Principal, beats: Sequence[tuple[str, int]], now: int
) -> Callable[[Transaction], BatchResults]:
    """The writer op that applies a batch of beats (:func:`heartbeat_batch`), with what needs
    no transaction made already, in the caller's thread."""
    if not beats:
        return lambda tx: []
    if principal.user_id is None:
        tenant = principal.tenant_id
        group = BeatGroup.of(
            dialect, {tenant: principal}, [(tenant, sid, at, now) for sid, at in beats]
        )
        return partial(_apply_many, group=group, reading=_STATE)
    return partial(_by_rules_of_user, principal=principal, beats=beats, now=now)


def heartbeat_batch(
    tx: Transaction, principal: Principal, beats: Sequence[tuple[str, int]], now: int
) -> BatchResults:
    """Apply many heartbeats at once: each session's beats in time order, each extending the
    chain the one before established; one outcome (and the session's state after) per beat,
    in order. Only the state is read back: the answer says no more of a session."""
    return batch_op(tx.conn.dialect.name, principal, beats, now)(tx)


def _by_rules_of_user(
    tx: Transaction, principal: Principal, beats: Sequence[tuple[str, int]], now: int
) -> BatchResults:
    """A batch of a principal that sees one user's sessions: the rules on the locked rows."""
    results = _by_rules(tx, principal, [(sid, at, now) for sid, at in beats])
    tx.record(_applied(principal.tenant_id, (outcome for outcome, _ in results)))
    return [(outcome, None if s is None else BeatState.of_session(s)) for outcome, s in results]


def refresh_many(
    conn: Connection, principal: Principal, session_ids: Sequence[str], at: int, *, now: int
) -> int:
    """Heartbeat many sessions at the same time ``at`` (a presence snapshot, events); none
    that is overdue at ``now``: reads show it timed out already, as the sweep will close it."""
    if not session_ids:
        return 0
    which = sa.and_(visible_to(t, principal), among(conn, t.c.id, session_ids), not_overdue_at(now))
    return Beats(which, at).count(conn)
