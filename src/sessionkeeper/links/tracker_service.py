"""The browser tracker's calls: start a session with a publishable key, then beat and end
that one session with the per-session tracker token the start returned.

Beats go through the kernel's lifecycle (``storage/heartbeats.py``, ``storage/sessions.end``)
with the tracker's own ``at``, so late evidence, monotonic beats and every other rule hold.
A beat that says the page is hidden sets the session's timeout to the policy's
``hidden_timeout_s`` before it is applied (a per-session deadline, which the pure rules and
the SQL both read from the session); a visible beat sets it back to ``timeout_s``.

A companion page's close cannot be told from its reload (both are a ``pagehide``), and a
reload must continue the session. So the end of a companion session waits
:data:`CLOSE_WINDOW_MS`: a beat of the reloaded page within it cancels the close; otherwise
the job (``close_due``) ends the session exactly at the time of the close.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sessionkeeper.domain.lifecycle import EndReason
from sessionkeeper.domain.principal import Principal, Scope, operator
from sessionkeeper.domain.secrets import digest, new_secret
from sessionkeeper.domain.session import Session
from sessionkeeper.errors import Conflict, Forbidden, InvalidInput, NotFound
from sessionkeeper.links import rules, starts, store
from sessionkeeper.links.rules import Counters, TrackerMode
from sessionkeeper.links.service import TRACKER_TOKEN_PREFIX, make_id
from sessionkeeper.links.store import Tracker
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.sessions import SessionService
from sessionkeeper.storage import heartbeats
from sessionkeeper.storage import sessions as session_store
from sessionkeeper.storage.transaction import Transaction

SOURCE = "browser"
ANONYMOUS = "anonymous"
# How long a closed companion page may take to come back (a reload) before its session ends.
CLOSE_WINDOW_MS = 10_000
CLOSE_INTERVAL_S = 1.0
CLOSE_CHUNK = 200


@dataclass(frozen=True, slots=True)
class TrackerStart:
    kind: str
    mode: TrackerMode
    user_id: str | None = None
    attributes: Mapping[str, Any] | None = None
    subject: Mapping[str, str] | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """One report of the tracker: its running totals, whether the page is hidden, and when
    it was made (epoch ms, checked like any client time; None: now)."""

    counters: Counters
    hidden: bool
    at: int | None


@dataclass(frozen=True, slots=True)
class Started:
    session: Session
    token: str


class TrackerService:
    def __init__(self, runtime: Runtime, sessions: SessionService) -> None:
        self.rt = runtime
        self.sessions = sessions

    # --- origins ---------------------------------------------------------------------------

    async def check_origin(self, principal: Principal, origin: str | None) -> None:
        """A publishable key works only from the origins it was made for."""
        if principal.scope is not Scope.PUBLISH:
            return
        key_id = int(principal.credential_id or 0)
        allowed = origin is not None and await self.rt.db.reader.run(
            lambda conn: store.key_allows(conn, key_id, origin)
        )
        if not allowed:
            raise Forbidden(
                f"this publishable key is not allowed from the origin {origin or '(none)'}",
                code="origin_not_allowed",
            )

    # --- start, beat, end ------------------------------------------------------------------

    async def start(self, principal: Principal, origin: str | None, req: TrackerStart) -> Started:
        principal.require(Scope.PUBLISH)
        await self.check_origin(principal, origin)
        problem = rules.attributes_problem(req.attributes or {}, rules.TRACKER_ADDS)
        if problem is not None:
            raise InvalidInput(f"with what the tracker adds, {problem}", field="attributes")
        now = self.rt.clock.now_ms()
        token = new_secret(TRACKER_TOKEN_PREFIX)
        attributes = rules.given_with(
            req.attributes or {},
            {"user_agent": rules.user_agent_family(req.user_agent), "tracker_mode": req.mode.value},
        )
        new = starts.new_session(
            make_id("", now),
            user_id=req.user_id or ANONYMOUS,
            kind=req.kind,
            attributes=attributes,
            subject=req.subject,
            source=SOURCE,
            started_at=now,
        )
        # The session is the tenant's, not the key's: the key may touch it only through the
        # token, so its principal carries no rights past this start.
        tenant = Principal(principal.tenant_id, principal.tenant_name, Scope.INGEST)

        def write(tx: Transaction) -> Session:
            session = starts.start(tx, tenant, new, now)
            store.insert_tracker(
                tx.conn,
                {
                    "token_hash": digest(token),
                    "tenant_id": principal.tenant_id,
                    "session_id": session.id,
                    "origin": origin if principal.scope is Scope.PUBLISH else None,
                    "mode": req.mode.value,
                    "created_at": now,
                    "reported_at": now,
                    "report_made_at": now,
                },
            )
            return session

        session = await self.rt.db.writer.run(write)
        return Started(session, token)

    async def _tracker(self, token: str, origin: str | None) -> Tracker:
        tracker = await self.rt.db.reader.run(
            lambda conn: store.tracker_by_token(conn, digest(token))
        )
        if tracker is None:
            raise NotFound("unknown tracker token")
        if tracker.origin is not None and tracker.origin != origin:
            raise Forbidden(
                "this session was started from another origin", code="origin_not_allowed"
            )
        return tracker

    async def report(self, token: str, origin: str | None, report: Report, *, end: bool) -> Session:
        """Apply a beat (or, with ``end``, the last report and the end) of the token's session."""
        tracker = await self._tracker(token, origin)
        at = self.sessions.client_time(report.at, "at")
        now = self.rt.clock.now_ms()
        principal = operator(tracker.tenant_id, tracker.tenant_name)
        token_hash = digest(token)

        def write(tx: Transaction) -> tuple[str, Session | None]:
            current = store.tracker_by_token(tx.conn, token_hash)
            session = session_store.get(tx.conn, principal, tracker.session_id)
            if current is None or session is None:
                return "not_found", None
            policy = starts.policy_for(tx, principal, session.kind)
            closing = end and current.mode == TrackerMode.COMPANION.value
            timeout = policy.hidden_timeout_ms if report.hidden else policy.timeout_ms
            if closing:  # open until the close window has passed (and the job ran)
                timeout = 2 * CLOSE_WINDOW_MS
            store.set_beat_timeout(tx.conn, principal, session.id, at=at, timeout_ms=timeout)
            outcome, beaten = heartbeats.heartbeat(tx, principal, session.id, at=at, now=now)
            if closing:
                store.set_closing(tx.conn, token_hash, at)
            elif current.closing_at is not None:
                store.reopen(tx.conn, token_hash, at)
            if outcome == "ok" and beaten is not None:
                # Time passed since the last counted report, by the server's clock or, for
                # reports kept while offline and delivered together, by their own times.
                elapsed = max(now - current.reported_at, min(at, now) - current.report_made_at)
                lived = now - session.started_at
                counters = rules.merge(current.counters, report.counters, elapsed, lived)
                if counters != current.counters or report.hidden != current.hidden:
                    store.save_counters(
                        tx.conn, token_hash, counters, hidden=report.hidden, now=now, at=at
                    )
                    beaten = heartbeats.merge_attributes(
                        tx, principal, beaten, _counter_attributes(counters)
                    )
            if end and not closing:
                _, beaten = session_store.end(
                    tx, principal, session.id, at=at, reason=EndReason.CLIENT, now=now
                )
                return "ended", beaten
            return outcome, beaten

        outcome, session = await self.rt.db.writer.run(write)
        if session is None:
            raise NotFound("the tracker token's session is gone")
        if outcome == "closed":
            raise Conflict(
                f"session '{session.id}' is {session.status}; start a new session",
                session=session,
            )
        return session

    async def close_due(self) -> int:
        """End the sessions of companion pages closed more than the close window ago (not
        reloaded since), each exactly at its close; returns how many."""
        now = self.rt.clock.now_ms()

        def close(tx: Transaction) -> int:
            due = store.due_closes(tx.conn, now - CLOSE_WINDOW_MS, CLOSE_CHUNK)
            for token_hash, tenant_id, session_id, closed_at in due:
                principal = Principal(tenant_id, "", Scope.ADMIN)
                session_store.end(
                    tx, principal, session_id, at=closed_at, reason=EndReason.CLIENT, now=now
                )
                store.set_closing(tx.conn, token_hash, None)
            return len(due)

        closed = 0
        while True:
            chunk = await self.rt.db.writer.run(close)
            closed += chunk
            if chunk < CLOSE_CHUNK:
                return closed


def _counter_attributes(counters: Counters) -> dict[str, int]:
    """The counters as the session's attributes show them."""
    return {
        "engaged_ms": counters.engaged_ms,
        "visible_ms": counters.visible_ms,
        "wall_ms": counters.wall_ms,
    }


def report_from(body: Mapping[str, Any]) -> Report:
    """A report from a tracker body, checked field by field (422 naming the field)."""

    def count(name: str) -> int:
        value = body.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53:
            raise InvalidInput(f"{name} must be a whole number of milliseconds", field=name)
        return value

    state = body.get("state", "visible")
    if state not in ("visible", "hidden"):
        raise InvalidInput("state must be 'visible' or 'hidden'", field="state")
    at = body.get("at")
    if at is not None and (not isinstance(at, int) or isinstance(at, bool) or at < 0):
        raise InvalidInput("at must be epoch milliseconds", field="at")
    return Report(
        counters=Counters(
            engaged_ms=count("engaged_ms"),
            visible_ms=count("visible_ms"),
            wall_ms=count("wall_ms"),
            seq=count("seq"),
        ),
        hidden=state == "hidden",
        at=at if isinstance(at, int) else None,
    )
