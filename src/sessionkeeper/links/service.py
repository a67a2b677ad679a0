"""Tracking links: create, list, read, delete; and the click that starts a session.

A click is one transaction: the link takes the click (a single-use link only its first), the
session starts (``source`` "link"; kind, user and subject from the link) and its tracker
token is stored, so the companion page can beat it and a reload can continue it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sessionkeeper.domain.ids import time_ordered_id
from sessionkeeper.domain.principal import Principal, operator
from sessionkeeper.domain.secrets import digest, new_secret
from sessionkeeper.domain.session import Session
from sessionkeeper.errors import Gone, InvalidInput, NotFound
from sessionkeeper.links import rules, starts, store
from sessionkeeper.links.rules import Mode, TrackerMode
from sessionkeeper.links.store import Click, Link
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import sessions as session_store
from sessionkeeper.storage.transaction import Transaction

LINK_TOKEN_PREFIX = "lt_"
TRACKER_TOKEN_PREFIX = "tt_"
# The session of a link without a user: one visitor of the link, not a person we know.
ANONYMOUS = "anonymous"
SOURCE = "link"
CLICKS_SHOWN = 100


@dataclass(frozen=True, slots=True)
class LinkSpec:
    target_url: str
    kind: str
    mode: Mode
    user_id: str | None = None
    subject: Mapping[str, str] | None = None
    attributes: Mapping[str, Any] | None = None
    reusable: bool = True
    expires_at: int | None = None


@dataclass(frozen=True, slots=True)
class NewLink:
    link: Link
    token: str


@dataclass(frozen=True, slots=True)
class Clicked:
    link: Link
    session: Session
    # The click's tracker token: the companion page beats with it, the cookie keeps it.
    tracker_token: str
    # A reload (or a second tab) of the same click: the session it started goes on.
    continued: bool
    # The totals reported so far: a reloaded page counts on from them.
    counters: rules.Counters = field(default_factory=rules.Counters)


def make_id(prefix: str, now: int) -> str:
    return prefix + time_ordered_id(now, os.urandom(10))


class LinkService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def create(self, principal: Principal, spec: LinkSpec) -> NewLink:
        problem = rules.target_problem(spec.target_url, self.rt.settings.link_schemes)
        if problem is not None:
            raise InvalidInput(f"target_url {problem}", field="target_url")
        problem = rules.attributes_problem(spec.attributes or {}, rules.CLICK_ADDS)
        if problem is not None:
            raise InvalidInput(f"with what each click adds, {problem}", field="attributes")
        now = self.rt.clock.now_ms()
        if spec.expires_at is not None and spec.expires_at <= now:
            raise InvalidInput("expires_at is in the past", field="expires_at")
        token = new_secret(LINK_TOKEN_PREFIX)
        link_id = make_id("lnk_", now)
        values = {
            "id": link_id,
            "tenant_id": principal.tenant_id,
            "token_hash": digest(token),
            "target_url": spec.target_url,
            "kind": spec.kind,
            "user_id": spec.user_id,
            "subject": dict(spec.subject) if spec.subject else None,
            "attributes": dict(spec.attributes or {}),
            "mode": spec.mode.value,
            "reusable": spec.reusable,
            "expires_at": spec.expires_at,
            "clicks": 0,
            "created_at": now,
        }

        def write(tx: Transaction) -> Link | None:
            store.insert_link(tx.conn, values)
            return store.get_link(tx.conn, principal, link_id)

        link = await self.rt.db.writer.run(write)
        assert link is not None  # just written, in the principal's tenant
        return NewLink(link, token)

    async def get(self, principal: Principal, link_id: str) -> tuple[Link, list[Click]]:
        def read(conn: Any) -> tuple[Link | None, list[Click]]:
            link = store.get_link(conn, principal, link_id)
            if link is None:
                return None, []
            return link, store.clicks_of(conn, principal, link_id, CLICKS_SHOWN)

        link, clicks = await self.rt.db.reader.run(read)
        if link is None:
            raise NotFound(f"no link '{link_id}'")
        return link, clicks

    async def list(
        self,
        principal: Principal,
        *,
        kind: str | None,
        user_id: str | None,
        subject: dict[str, str],
        include_deleted: bool,
        before: tuple[int, str] | None,
        limit: int,
    ) -> list[Link]:
        return await self.rt.db.reader.run(
            lambda conn: store.list_links(
                conn,
                principal,
                kind=kind,
                user_id=user_id,
                subject=subject,
                include_deleted=include_deleted,
                before=before,
                limit=limit,
            )
        )

    async def delete(self, principal: Principal, link_id: str) -> None:
        """Withdraw the link: its url answers 410 from now on; sessions it started stay."""
        now = self.rt.clock.now_ms()

        def write(tx: Transaction) -> bool:
            deleted = store.delete_link(tx.conn, principal, link_id, now)
            return deleted or store.get_link(tx.conn, principal, link_id) is not None

        if not await self.rt.db.writer.run(write):
            raise NotFound(f"no link '{link_id}'")

    # --- the click -------------------------------------------------------------------------

    async def peek(self, token: str) -> Link:
        """The link a preview or crawler fetched, if a click could use it; no session."""
        now = self.rt.clock.now_ms()
        found = await self.rt.db.reader.run(lambda conn: store.link_by_token(conn, digest(token)))
        if found is None:
            raise NotFound("no such link")
        link = found[0]
        problem = rules.usable_problem(
            deleted=link.deleted_at is not None,
            expires_at=link.expires_at,
            now=now,
            used=link.clicks > 0,
            reusable=link.reusable,
        )
        if problem is not None:
            raise Gone(problem, code="link_gone")
        return link

    async def click(self, token: str, cookie: str | None, user_agent: str | None) -> Clicked:
        """Start the session of a click on the link with ``token``, or continue the one the
        same browser's earlier click started (``cookie``: that click's tracker token) while
        it lives. Gone when the link takes no more clicks; NotFound for no such link."""
        now = self.rt.clock.now_ms()
        found = await self.rt.db.reader.run(lambda conn: store.link_by_token(conn, digest(token)))
        if found is None:
            raise NotFound("no such link")
        link, tenant_name = found
        principal = operator(link.tenant_id, tenant_name)
        if cookie is not None and link.deleted_at is None:
            continued = await self._continued(principal, link, cookie, now)
            if continued is not None:
                return Clicked(link, continued[0], cookie, continued=True, counters=continued[1])
        problem = rules.usable_problem(
            deleted=link.deleted_at is not None,
            expires_at=link.expires_at,
            now=now,
            used=link.clicks > 0,
            reusable=link.reusable,
        )
        if problem is not None:
            raise Gone(problem, code="link_gone")
        tracker_token = new_secret(TRACKER_TOKEN_PREFIX)
        family = rules.user_agent_family(user_agent)
        new = starts.new_session(
            make_id("", now),
            user_id=link.user_id or ANONYMOUS,
            kind=link.kind,
            attributes=rules.given_with(
                link.attributes, {"link_id": link.id, "link_mode": link.mode, "user_agent": family}
            ),
            subject=link.subject,
            source=SOURCE,
            started_at=now,
        )

        def write(tx: Transaction) -> Session | None:
            if not store.claim_click(tx.conn, link.id, now):
                return None
            session = starts.start(tx, principal, new, now)
            store.insert_click(
                tx.conn,
                {
                    "tenant_id": link.tenant_id,
                    "link_id": link.id,
                    "session_id": session.id,
                    "clicked_at": now,
                    "user_agent": family,
                },
            )
            mode = TrackerMode.COMPANION if link.mode == Mode.COMPANION else TrackerMode.PAGE
            store.insert_tracker(
                tx.conn,
                {
                    "token_hash": digest(tracker_token),
                    "tenant_id": link.tenant_id,
                    "session_id": session.id,
                    "origin": None,
                    "mode": mode.value,
                    "created_at": now,
                    "reported_at": now,
                    "report_made_at": now,
                },
            )
            return session

        session = await self.rt.db.writer.run(write)
        if session is None:  # another click took it, or it was withdrawn meanwhile
            raise Gone("This link has been used already.", code="link_gone")
        return Clicked(link, session, tracker_token, continued=False)

    async def _continued(
        self, principal: Principal, link: Link, cookie: str, now: int
    ) -> tuple[Session, rules.Counters] | None:
        """The live session of this link that the cookie's click started, if any, and the
        totals its page reported."""

        def read(conn: Any) -> tuple[Session | None, rules.Counters]:
            tracker = store.tracker_by_token(conn, digest(cookie))
            if tracker is None or tracker.tenant_id != link.tenant_id:
                return None, rules.Counters()
            return session_store.get(conn, principal, tracker.session_id), tracker.counters

        session, counters = await self.rt.db.reader.run(read)
        if session is None or session.attributes.get("link_id") != link.id:
            return None
        session = session.as_of(now)
        return (session, counters) if session.status == "active" else None
