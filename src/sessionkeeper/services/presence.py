"""Presence sources: reconcile full snapshots or incremental changes with active sessions.

A snapshot or a change set is applied in one transaction, as the source's state at its own
time. Before matching, the source's sessions that were dead by then are closed at their
estimated end, so a tracker that comes back after a long outage starts fresh sessions instead
of stretching the old ones over the gap, while a tracker that comes back in time continues its
sessions. A snapshot made in time but delivered late (kept by a reporter while the server was
unreachable) is late evidence, as a late heartbeat is: the sessions alive at its time —
overdue by now, or closed by the sweep meanwhile — are beaten or ended at its time by the
kernel's rules, which amend them; the result is the same whether the sweep came first or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from sessionkeeper.domain import presence as rules
from sessionkeeper.domain.events import PresenceReconciled
from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.domain.policy import DEFAULT_POLICY, Policy, resolve_policy
from sessionkeeper.domain.presence import (
    ActiveRow,
    OpenSessions,
    PresenceDiff,
    PresenceEntry,
    PresenceKey,
)
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import NewSession, start_digest
from sessionkeeper.errors import InvalidInput
from sessionkeeper.services import source_cache
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.sessions import SessionService
from sessionkeeper.services.source_cache import Bounds, SourceCache
from sessionkeeper.storage import heartbeats, session_inserts
from sessionkeeper.storage import policies as policy_store
from sessionkeeper.storage import presence as store
from sessionkeeper.storage import sessions as session_store
from sessionkeeper.storage.transaction import Transaction


@dataclass(frozen=True, slots=True)
class PresenceOutcome:
    at: int
    diff: PresenceDiff
    started_ids: list[str]
    timed_out: int
    applied: bool
    # True when a newer snapshot or change set of the source was applied already: this
    # one arrived late (a retry, a reordered request) and changed nothing.
    stale: bool = False


class PresenceService:
    def __init__(
        self,
        runtime: Runtime,
        sessions: SessionService,
        *,
        taken_sources: frozenset[str] = frozenset(),
    ) -> None:
        self.rt = runtime
        self.sessions = sessions
        self.cache = SourceCache(runtime.settings.presence_cache_sessions)
        # The sources features give their own sessions (``Feature.session_sources``).
        self.taken_sources = taken_sources

    async def snapshot(
        self,
        principal: Principal,
        source: str,
        entries: Sequence[PresenceEntry],
        *,
        at: int | None = None,
        dry_run: bool = False,
    ) -> PresenceOutcome:
        return await self._reconcile(
            principal,
            source,
            lambda active: rules.diff_snapshot(entries, active),
            at=at,
            dry_run=dry_run,
            refreshes_all=True,
        )

    async def changes(
        self,
        principal: Principal,
        source: str,
        joins: Sequence[PresenceEntry],
        leaves: Sequence[PresenceKey],
        *,
        at: int | None = None,
        keepalive: bool = False,
        dry_run: bool = False,
    ) -> PresenceOutcome:
        return await self._reconcile(
            principal,
            source,
            lambda active: rules.diff_changes(joins, leaves, active, keepalive=keepalive),
            at=at,
            dry_run=dry_run,
            refreshes_all=keepalive,
        )

    async def _reconcile(
        self,
        principal: Principal,
        source: str,
        make_diff: rules.DiffFunction,
        *,
        at: int | None,
        dry_run: bool,
        refreshes_all: bool,
    ) -> PresenceOutcome:
        """Apply ``make_diff`` to the source's live sessions in one transaction.

        ``refreshes_all`` says the diff refreshes every session it does not end; that is then
        one heartbeat of the source, written on its row, instead of a write to each session.
        """
        if source in self.taken_sources:
            # A source owns the open sessions of its name: these belong to a feature, and a
            # snapshot would end every one of them as lost presence.
            raise InvalidInput(
                f"'{source}' is the source of sessions another feature starts; "
                "name the presence source otherwise",
                field="source",
                code="source_taken",
            )
        when = self.sessions.client_time(at, "at")
        if dry_run:

            def preview(conn: Connection) -> PresenceOutcome:
                mark = store.last_applied_at(conn, principal, source)
                if mark is not None and mark > when:
                    return _stale(when)
                now = self.rt.clock.now_ms()
                closed = _closed_since(conn, principal, source, when, now)
                alive, late, dead = _matchable(conn, principal, source, when, now, closed)
                diff = _uncovered(make_diff(OpenSessions.of([*alive, *late])), closed)
                # The apply closes the dead ones first, as the sweep would.
                return PresenceOutcome(when, diff, [], len(dead), applied=False)

            return await self.rt.db.reader.run(preview)

        key = (principal.tenant_id, source)

        def apply(tx: Transaction) -> PresenceOutcome:
            revision = store.claim_time(tx.conn, principal, source, when)
            if revision is None:
                return _stale(when)
            now = self.rt.clock.now_ms()
            # Sessions closed after the snapshot's time are not in the cache.
            closed = _closed_since(tx.conn, principal, source, when, now)
            known = None if closed else self.cache.lookup(key, revision, now)
            timed_out = 0
            late: set[str] = set()
            if known is None:
                alive, late_rows, dead = _matchable(tx.conn, principal, source, when, now, closed)
                # Dead by the snapshot's time: closed as the sweep would, before matching.
                timed_out = session_store.close_overdue(tx, principal, dead, now)
                late = {row[0] for row in late_rows}
                matched, bounds = OpenSessions.of([*alive, *late_rows]), Bounds.of_rows(alive)
            else:  # unchanged since this process's last snapshot, and nothing overdue yet
                matched, bounds = known.sessions, Bounds.of_known(known)
            diff = _uncovered(make_diff(matched), closed)
            news = self._new_sessions(tx, principal, source, diff.to_start, when)
            ends = [item.session_id for item in diff.to_end]
            session_store.end_many(
                tx,
                principal,
                [sid for sid in ends if sid not in late],
                at=when,
                reason=EndReason.PRESENCE_LOST,
            )
            if late:  # by the rules, row by row (a source's refreshes are thousands: not them)
                self._amend(tx, principal, late, ends, diff, when, now)
            session_inserts.insert_many(tx, principal, news)
            if refreshes_all:  # after the ends, what is open is exactly what to refresh
                revision = store.beat(tx.conn, principal, source, when)
                if late:  # their states were changed by the rules, not as the cache follows
                    tx.after_commit(lambda: self.cache.forget(key))
                else:
                    after = source_cache.after_snapshot(matched, bounds, diff, news, revision, when)
                    tx.after_commit(lambda: self.cache.store(key, after))
            else:  # the sessions it does not list keep their own, older, beats
                heartbeats.refresh_many(
                    tx.conn,
                    principal,
                    [item.session_id for item in diff.to_refresh if item.session_id not in late],
                    when,
                    now=now,
                )
                tx.after_commit(lambda: self.cache.forget(key))
            tx.record(
                PresenceReconciled(
                    tenant_id=principal.tenant_id,
                    source=source,
                    started=len(diff.to_start),
                    refreshed=len(diff.to_refresh),
                    ended=len(diff.to_end),
                )
            )
            return PresenceOutcome(when, diff, [n.id for n in news], timed_out, applied=True)

        return await self.rt.db.writer.run(apply)

    def _amend(
        self,
        tx: Transaction,
        principal: Principal,
        late: set[str],
        ends: list[str],
        diff: PresenceDiff,
        when: int,
        now: int,
    ) -> None:
        """Apply a snapshot of ``when`` to the sessions it is late evidence about: those it
        no longer lists end exactly then, the others are beaten then, if each was alive then
        (``lifecycle.end``, ``lifecycle.heartbeats``): amendments."""
        for sid in ends:
            if sid in late:
                session_store.end(
                    tx, principal, sid, at=when, reason=EndReason.PRESENCE_LOST, now=now
                )
        beaten = [item.session_id for item in diff.to_refresh if item.session_id in late]
        heartbeats.late_beats(tx, principal, [(sid, when, now) for sid in beaten])

    def _new_sessions(
        self,
        tx: Transaction,
        principal: Principal,
        source: str,
        entries: Sequence[PresenceEntry],
        at: int,
    ) -> list[NewSession]:
        """The sessions to start for ``entries``, each on its kind's policy. The policies are
        read only when something starts: most snapshots of a settled source start nothing."""
        if not entries:
            return []
        tenant_policies = policy_store.load(tx.conn, principal.tenant_id)
        policies = {
            kind: resolve_policy(tenant_policies, kind) for kind in {e.kind for e in entries}
        }
        return [self._new_session(source, entry, at, policies[entry.kind]) for entry in entries]

    def _new_session(
        self, source: str, entry: PresenceEntry, at: int, policy: Policy
    ) -> NewSession:
        attributes = dict(entry.attributes)
        return NewSession(
            id=self.sessions.new_id(),
            user_id=entry.user_id,
            kind=entry.kind,
            label=entry.label,
            attributes=attributes,
            started_at=at,
            timeout_ms=policy.timeout_ms,
            grace_ms=policy.grace_ms,
            interval_ms=policy.interval_ms,
            source=source,
            start_digest=start_digest(
                {
                    "source": source,
                    "user_id": entry.user_id,
                    "kind": entry.kind,
                    "label": entry.label,
                    "attributes": attributes,
                    "started_at": at,
                }
            ),
        )


@dataclass(frozen=True, slots=True)
class Closed:
    """The source's sessions closed since a snapshot's time that were alive then."""

    # By the sweep: late evidence amends them.
    timed_out: Sequence[ActiveRow] = ()
    # By a fact, such as a client's end: they cover the time already, so a snapshot that
    # lists them starts no second session over the same seconds.
    ended: Sequence[ActiveRow] = ()

    def __bool__(self) -> bool:
        return bool(self.timed_out or self.ended)

    @property
    def rows(self) -> list[ActiveRow]:
        return [*self.timed_out, *self.ended]


def _closed_since(
    conn: Connection, principal: Principal, source: str, when: int, now: int
) -> Closed:
    """The source's sessions closed since ``when`` that were alive then."""
    if when >= now:  # none can be: nothing was closed after now
        return Closed()
    # A swept session alive at ``when`` ended at most the timeout of its last beat before
    # it: at most the longest timeout any policy has had (or the default's).
    longest = max(
        policy_store.longest_timeout(conn, principal.tenant_id), DEFAULT_POLICY.timeout_ms
    )
    return Closed(
        store.timed_out_alive_at(conn, principal, source, when, longest),
        store.ended_since(conn, principal, source, when),
    )


def _uncovered(diff: PresenceDiff, closed: Closed) -> PresenceDiff:
    """``diff`` less the ends of sessions a fact closed already (the snapshot finds them
    gone, and they are: nothing to end)."""
    if not closed.ended:
        return diff
    ended = {row[0] for row in closed.ended}
    return PresenceDiff(
        diff.to_start, diff.to_refresh, [i for i in diff.to_end if i.session_id not in ended]
    )


def _matchable(
    conn: Connection,
    principal: Principal,
    source: str,
    when: int,
    now: int,
    closed: Closed,
) -> tuple[Sequence[ActiveRow], list[ActiveRow], list[str]]:
    """The source's sessions as a snapshot of ``when`` delivered at ``now`` meets them: those
    alive now; those alive at ``when`` but overdue now or closed by the sweep since (late
    evidence amends them); and the ids of those dead by ``when`` (closed before matching).
    ``closed``: the sessions closed since ``when`` that were alive then (``_closed_since``);
    the rules leave those a fact closed as they are."""
    alive, overdue = store.open_for_source(conn, principal, source, now)
    # A key a session alive now holds keeps that one; any other of the key is history.
    held = {rules.row_key(row) for row in alive}

    def amendable(row: ActiveRow) -> bool:
        return store.expires_of(row) >= when and rules.row_key(row) not in held

    late = [row for row in (*overdue, *closed.rows) if amendable(row)]
    dead = [row[0] for row in overdue if not amendable(row)]
    return alive, late, dead


def _stale(at: int) -> PresenceOutcome:
    return PresenceOutcome(at, PresenceDiff([], [], []), [], 0, applied=False, stale=True)
