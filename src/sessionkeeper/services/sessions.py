"""Starting, heartbeating, ending and reading sessions."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sessionkeeper.domain import lifecycle
from sessionkeeper.domain.ids import RESERVED_SESSION_IDS, is_valid_session_id, time_ordered_id
from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.domain.listing import Cursor, SessionFilter, SessionOrder
from sessionkeeper.domain.policy import resolve_policy
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import NewSession, Session, start_digest
from sessionkeeper.errors import Conflict, InvalidInput, NotFound
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.session_fields import SessionFields
from sessionkeeper.storage import audit as audit_store
from sessionkeeper.storage import heartbeats
from sessionkeeper.storage import policies as policy_store
from sessionkeeper.storage import session_queries as queries
from sessionkeeper.storage import sessions as store
from sessionkeeper.storage.transaction import Transaction

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


# A page of sessions (named here because the service's own ``list`` method shadows the type).
Sessions = list[Session]


@dataclass(frozen=True, slots=True)
class StartRequest:
    user_id: str
    kind: str
    id: str | None = None
    label: str | None = None
    attributes: Mapping[str, Any] | None = None
    started_at: int | None = None
    continues: str | None = None
    subject: Mapping[str, str] | None = None
    # Who started it when not the client itself: "link" for a click on a tracking link.
    source: str | None = None


@dataclass(frozen=True, slots=True)
class StartResult:
    session: Session
    created: bool
    # The features' session fields (``feature.SessionField``): null on a new session, read
    # on a retried start.
    fields: dict[str, Any] = field(default_factory=dict)


# Why a heartbeat older than the session's last one changes nothing, attributes included.
OLDER_BEAT = (
    "older than the session's last_seen_at: the session was seen later already, and older "
    "state changes nothing (attributes included)"
)


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    session: Session
    # False when the beat changed nothing because it is older than what is stored.
    applied: bool
    reason: str | None = None


class SessionService:
    def __init__(
        self,
        runtime: Runtime,
        fields: SessionFields | None = None,
        owned_attributes: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.rt = runtime
        self.fields = fields or SessionFields()
        # By session source: attributes only the feature that starts such sessions writes.
        self.owned_attributes = owned_attributes or {}

    def client_time(self, at: int | None, field: str, now: int | None = None) -> int:
        """The server clock (``now`` when given) when ``at`` is None, else ``at`` if within the
        accepted window around it, and never after ``now``: nothing is reported after it
        arrived, so a time stamped ahead (a client clock running fast) is taken as ``now``.
        It neither extends a session past what the server has heard, nor is a beat judged
        against a deadline still to come (which answered 409 for an active session)."""
        if now is None:
            now = self.rt.clock.now_ms()
        if at is None:
            return now
        error = lifecycle.client_time_error(
            at,
            now,
            max_past_ms=self.rt.settings.max_past_s * 1000,
            max_future_ms=self.rt.settings.max_future_s * 1000,
        )
        if error is not None:
            raise InvalidInput(f"{field} {error}", field=field)
        return min(at, now)

    def _check_owned(self, session: Session, attributes: Mapping[str, Any]) -> None:
        """Refuse attributes that only the feature owning the session's source writes (an
        end user could otherwise claim any engaged time on a browser session)."""
        owned = self.owned_attributes.get(session.source or "", frozenset())
        taken = sorted(owned.intersection(attributes))
        if taken:
            raise InvalidInput(
                f"attributes: {taken[0]} of a '{session.source}' session is kept by its own "
                "reports, not by heartbeats",
                field="attributes",
            )

    def new_id(self) -> str:
        return time_ordered_id(self.rt.clock.now_ms(), os.urandom(10))

    @staticmethod
    def check_new_id(session_id: str | None) -> None:
        """A client's id for a new session (a room's too) names no path under /v1/sessions/:
        a session of that id could never be read by it."""
        if session_id in RESERVED_SESSION_IDS:
            raise InvalidInput(
                f"'{session_id}' names a path under /v1/sessions/, not a session id",
                field="id",
            )

    async def start(self, principal: Principal, request: StartRequest) -> StartResult:
        self.check_new_id(request.id)
        started_at = self.client_time(request.started_at, "started_at")
        now = self.rt.clock.now_ms()
        started = {
            "user_id": request.user_id,
            "kind": request.kind,
            "label": request.label,
            "attributes": request.attributes or {},
            "started_at": request.started_at,
        }
        # Absent from the digest when empty, so that starts stored before these fields
        # existed keep their digests.
        if request.subject:
            started["subject"] = request.subject
        if request.continues:
            started["continues"] = request.continues
        if request.source:
            started["source"] = request.source
        digest = start_digest(started)
        new = NewSession(
            id=request.id or self.new_id(),
            user_id=request.user_id,
            kind=request.kind,
            label=request.label,
            attributes=request.attributes or {},
            started_at=started_at,
            timeout_ms=0,  # set from the policy inside the transaction
            grace_ms=0,
            start_digest=digest,
            continues=request.continues,
            subject=request.subject or None,
            source=request.source,
        )

        def start(tx: Transaction) -> tuple[bool, Session | None, dict[str, Any]]:
            if new.continues is not None:
                _check_continued(store.get(tx.conn, principal, new.continues), new)
            # The policy is read in the same transaction as the insert, so a policy another
            # process just changed is never missed by a session started right after.
            policy = resolve_policy(policy_store.load(tx.conn, principal.tenant_id), new.kind)
            with_policy = replace(
                new,
                timeout_ms=policy.timeout_ms,
                grace_ms=policy.grace_ms,
                interval_ms=policy.interval_ms,
            )
            created, session = store.start(tx, principal, with_policy, now)
            # A new session has no feature values yet; a retried one, or the one a different
            # start collided with, may have.
            if session is None or created:
                return created, session, self.fields.none()
            return created, session, self.fields.read(tx.conn, principal, [session])[session.id]

        created, session, fields = await self.rt.db.writer.run(start)
        if session is None or (not created and session.start_digest != digest):
            raise Conflict(
                f"session '{new.id}' exists with a different start; use a new id",
                session=session,
                fields=fields,
            )
        return StartResult(session=session, created=created, fields=fields)

    async def heartbeat(
        self,
        principal: Principal,
        session_id: str,
        *,
        at: int | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> HeartbeatResult:
        _known_shape(session_id)
        now = self.rt.clock.now_ms()
        beat_at = self.client_time(at, "at", now)
        if attributes:

            def beat(tx: Transaction) -> tuple[heartbeats.HeartbeatOutcome, Session | None]:
                outcome, session = heartbeats.heartbeat(
                    tx, principal, session_id, at=beat_at, now=now
                )
                if session is not None:
                    self._check_owned(session, attributes)
                # A beat that is the newest evidence carries the newest attributes.
                if outcome == "ok" and session is not None and session.last_seen_at == beat_at:
                    session = heartbeats.merge_attributes(tx, principal, session, attributes)
                return outcome, session

            outcome, session = await self.rt.db.writer.run(beat)
        else:  # the common case: combined with concurrent heartbeats into one executemany
            outcome, session = await self.rt.db.writer.run(
                heartbeats.heartbeat_op(principal, session_id, at=beat_at, now=now)
            )
        if session is None:
            raise NotFound(f"no session '{session_id}'")
        if outcome == "closed":
            raise Conflict(
                f"session '{session_id}' is {session.status}; start a new session",
                session=session,
            )
        if beat_at < session.last_seen_at:
            return HeartbeatResult(session, applied=False, reason=OLDER_BEAT)
        return HeartbeatResult(session, applied=True)

    async def heartbeat_batch(
        self, principal: Principal, beats: Sequence[tuple[str, int | None]]
    ) -> list[tuple[heartbeats.HeartbeatOutcome, heartbeats.BeatState | None]]:
        # One reading of the clock for the whole batch: the beats arrived together.
        now = self.rt.clock.now_ms()
        resolved = [
            (sid, self.client_time(at, f"heartbeats.{i}.at", now))
            for i, (sid, at) in enumerate(beats)
        ]
        op = heartbeats.batch_op(self.rt.db.dialect, principal, resolved, now)
        return await self.rt.db.writer.run(op)

    async def end(
        self,
        principal: Principal,
        session_id: str,
        *,
        at: int | None = None,
        reason: EndReason = EndReason.CLIENT,
    ) -> Session:
        session, _ = await self._end(principal, session_id, at, reason, given=None)
        return session

    async def end_with_fields(
        self,
        principal: Principal,
        session_id: str,
        *,
        at: int | None = None,
        reason: EndReason = EndReason.CLIENT,
        given: Mapping[str, Any] | None = None,
    ) -> tuple[Session, dict[str, Any]]:
        """End the session and store the feature fields ``given`` with it (validated values,
        by field name) in the same transaction; a field refused there refuses the end. Also on
        a session closed already: ends are repeatable, and so is what comes with them.

        Returns the session and every feature field's value after the end."""
        return await self._end(principal, session_id, at, reason, given=given or {})

    async def _end(
        self,
        principal: Principal,
        session_id: str,
        at: int | None,
        reason: EndReason,
        *,
        given: Mapping[str, Any] | None,
    ) -> tuple[Session, dict[str, Any]]:
        """``given`` None: the caller wants no feature fields, so none are read."""
        _known_shape(session_id)
        end_at = self.client_time(at, "at")
        now = self.rt.clock.now_ms()

        def end(tx: Transaction) -> tuple[Session | None, dict[str, Any]]:
            changed, session = store.end(
                tx, principal, session_id, at=end_at, reason=reason, now=now
            )
            if session is None:
                return None, {}
            if reason is EndReason.ADMIN:  # ended by hand: logged
                details = {"at": end_at, "changed": changed}
                audit_store.record(
                    tx.conn, principal, "session.end", at=now, target=session_id, details=details
                )
            if given is None or not self.fields:
                return session, {}
            return session, self.fields.end(tx, principal, session, given, now)

        session, fields = await self.rt.db.writer.run(end)
        if session is None:
            raise NotFound(f"no session '{session_id}'")
        return session, fields

    async def get(self, principal: Principal, session_id: str) -> Session:
        session, _ = await self._get(principal, session_id, with_fields=False)
        return session

    async def get_with_fields(
        self, principal: Principal, session_id: str
    ) -> tuple[Session, dict[str, Any]]:
        """The session and the features' fields of it, read together."""
        return await self._get(principal, session_id, with_fields=True)

    async def _get(
        self, principal: Principal, session_id: str, *, with_fields: bool
    ) -> tuple[Session, dict[str, Any]]:
        _known_shape(session_id)

        def read(conn: Connection) -> tuple[Session | None, dict[str, Any]]:
            session = store.get(conn, principal, session_id)
            if session is None or not with_fields:
                return session, {}
            return session, self.fields.read(conn, principal, [session])[session.id]

        session, fields = await self.rt.db.reader.run(read)
        if session is None:
            raise NotFound(f"no session '{session_id}'")
        return session.as_of(self.rt.clock.now_ms()), fields

    async def list(
        self,
        principal: Principal,
        where: SessionFilter,
        *,
        limit: int,
        after: Cursor | None,
        order: SessionOrder = SessionOrder.NEWEST,
    ) -> tuple[list[Session], Cursor | None]:
        """A page of sessions in ``order``, and the cursor of the next page (None at the
        end)."""
        page, cursor, _ = await self._list(
            principal, where, limit, after, order=order, with_fields=False
        )
        return page, cursor

    async def list_with_fields(
        self,
        principal: Principal,
        where: SessionFilter,
        *,
        limit: int,
        after: Cursor | None,
        order: SessionOrder = SessionOrder.NEWEST,
    ) -> tuple[Sessions, Cursor | None, dict[str, dict[str, Any]]]:
        """A page as ``list`` gives it, and the features' fields of its sessions by session
        id: read in the same read, one query per field for the whole page."""
        return await self._list(principal, where, limit, after, order=order, with_fields=True)

    async def _list(
        self,
        principal: Principal,
        where: SessionFilter,
        limit: int,
        after: Cursor | None,
        *,
        order: SessionOrder,
        with_fields: bool,
    ) -> tuple[Sessions, Cursor | None, dict[str, dict[str, Any]]]:
        now = self.rt.clock.now_ms()

        def read(conn: Connection) -> tuple[Sessions, bool, dict[str, dict[str, Any]]]:
            rows = queries.list_sessions(
                conn,
                principal,
                where,
                limit=limit + 1,
                after=after,
                now=now,
                order=order,
            )
            page = rows[:limit]
            fields = self.fields.read(conn, principal, page) if with_fields else {}
            return page, len(rows) > limit, fields

        page, more, fields = await self.rt.db.reader.run(read)
        if not more or not page:
            return page, None, fields
        last = page[-1]
        # The stored end: an overdue session shown with its estimate is listed only by start.
        return page, Cursor(order.value_of(last.started_at, last.ended_at), last.id), fields


def _check_continued(previous: Session | None, new: NewSession) -> None:
    """A continuation names an earlier session of the same user, closed or not: one that
    began no later than it does."""
    if previous is None:
        raise InvalidInput(
            f"continues names no session of this tenant: '{new.continues}'", field="continues"
        )
    if previous.user_id != new.user_id:
        raise InvalidInput(
            "continues names a session of another user; a continuation is the same user's",
            field="continues",
        )
    if previous.started_at > new.started_at:
        raise InvalidInput(
            "continues names a session that began after this one; a continuation follows "
            "the session it continues",
            field="continues",
        )


def _known_shape(session_id: str) -> None:
    """No session has an id outside the id pattern; say so before asking the database."""
    if not is_valid_session_id(session_id):
        raise NotFound(f"no session '{session_id}'")
