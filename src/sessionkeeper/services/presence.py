"""Presence sources: reconcile full snapshots or incremental changes with active sessions.

A snapshot or a change set is applied in one transaction. Before matching, the source's
sessions that expired meanwhile are closed at their estimated end, so a tracker that comes back
after a long outage starts fresh sessions instead of stretching the old ones over the gap,
while a tracker that comes back in time continues its sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from sessionkeeper.domain import presence as rules
from sessionkeeper.domain.events import PresenceReconciled
from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.domain.policy import Policy, resolve_policy
from sessionkeeper.domain.presence import OpenSessions, PresenceDiff, PresenceEntry, PresenceKey
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
                active, _ = store.open_for_source(conn, principal, source, when)
                diff = make_diff(OpenSessions.of(active))
                return PresenceOutcome(when, diff, [], 0, applied=False)

            return await self.rt.db.reader.run(preview)

        key = (principal.tenant_id, source)

        def apply(tx: Transaction) -> PresenceOutcome:
            revision = store.claim_time(tx.conn, principal, source, when)
            if revision is None:
                return _stale(when)
            # Overdue by now, not only by the snapshot's own time: reads already showed such
            # a session timed out, and the sweep would have closed it, so a snapshot made
            # before its deadline but sent after it must not carry it on (it starts a new one,
            # as it would after the sweep).
            now = self.rt.clock.now_ms()
            known = self.cache.lookup(key, revision, now)
            timed_out = 0
            if known is None:
                alive, overdue = store.open_for_source(tx.conn, principal, source, now)
                # Overdue meanwhile: closed as the sweep would, before anything is matched.
                timed_out = session_store.close_overdue(tx, principal, overdue, now)
                matched, bounds = OpenSessions.of(alive), Bounds.of_rows(alive)
            else:  # unchanged since this process's last snapshot, and nothing overdue yet
                matched, bounds = known.sessions, Bounds.of_known(known)
            diff = make_diff(matched)
            news = self._new_sessions(tx, principal, source, diff.to_start, when)
            session_store.end_many(
                tx,
                principal,
                [item.session_id for item in diff.to_end],
                at=when,
                reason=EndReason.PRESENCE_LOST,
            )
            session_inserts.insert_many(tx, principal, news)
            if refreshes_all:  # after the ends, what is open is exactly what to refresh
                revision = store.beat(tx.conn, principal, source, when)
                after = source_cache.after_snapshot(matched, bounds, diff, news, revision, when)
                tx.after_commit(lambda: self.cache.store(key, after))
            else:  # the sessions it does not list keep their own, older, beats
                heartbeats.refresh_many(
                    tx.conn,
                    principal,
                    [item.session_id for item in diff.to_refresh],
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


def _stale(at: int) -> PresenceOutcome:
    return PresenceOutcome(at, PresenceDiff([], [], []), [], 0, applied=False, stale=True)
