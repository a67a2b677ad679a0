"""Storing and reading activity events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sessionkeeper.domain.listing import Cursor
from sessionkeeper.domain.principal import Principal
from sessionkeeper.errors import InvalidInput, NotFound
from sessionkeeper.events import store
from sessionkeeper.events.rules import Event, EventFilter, ItemOutcome, NewEvent, Outcome
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.sessions import SessionService
from sessionkeeper.storage import sessions as session_store


class EventService:
    def __init__(self, runtime: Runtime, sessions: SessionService) -> None:
        self.rt = runtime
        self.sessions = sessions

    async def ingest(
        self, principal: Principal, batch: Sequence[NewEvent | ItemOutcome]
    ) -> list[ItemOutcome]:
        """Store a batch; an item that is already an outcome (refused while parsing) keeps it.

        Every item gets its own outcome: one bad event does not refuse the others.
        """
        outcomes: list[ItemOutcome | None] = [None] * len(batch)
        accepted: list[tuple[int, NewEvent]] = []
        for i, item in enumerate(batch):
            if isinstance(item, ItemOutcome):
                outcomes[i] = item
                continue
            checked = self._checked(principal, item, f"events.{i}")
            if isinstance(checked, ItemOutcome):
                outcomes[i] = checked
            else:
                accepted.append((i, checked))
        if accepted:
            now = self.rt.clock.now_ms()
            events = [event for _, event in accepted]
            results = await self.rt.db.writer.run(
                lambda tx: store.store_batch(tx, principal, events, now)
            )
            for (i, _), result in zip(accepted, results, strict=True):
                outcomes[i] = result
        return [outcome or ItemOutcome(Outcome.INVALID) for outcome in outcomes]

    def _checked(self, principal: Principal, event: NewEvent, path: str) -> NewEvent | ItemOutcome:
        """The event, or why it is refused."""
        if principal.user_id is not None and event.user_id != principal.user_id:
            return ItemOutcome(
                Outcome.INVALID, field=f"{path}.user_id", reason="must be the caller's own user"
            )
        if event.at is None:
            return event  # stamped with the time of the write
        try:
            self.sessions.client_time(event.at, f"{path}.at")
        except InvalidInput as exc:
            return ItemOutcome(Outcome.INVALID, field=exc.field, reason=exc.detail)
        return event

    async def of_session(
        self,
        principal: Principal,
        session_id: str,
        where: EventFilter,
        *,
        limit: int,
        after: Cursor | None,
    ) -> tuple[list[Event], Cursor | None]:
        """The events of one session the principal may see; NotFound when it may not."""
        found = await self.rt.db.reader.run(
            lambda conn: session_store.get(conn, principal, session_id)
        )
        if found is None:
            raise NotFound(f"no session '{session_id}'")
        return await self.list(
            principal, replace(where, session_id=session_id), limit=limit, after=after
        )

    async def list(
        self, principal: Principal, where: EventFilter, *, limit: int, after: Cursor | None
    ) -> tuple[list[Event], Cursor | None]:
        """A page of events, newest first, and the cursor of the next (None at the end)."""
        rows = await self.rt.db.reader.run(
            lambda conn: store.list_events(conn, principal, where, limit=limit + 1, after=after)
        )
        page = rows[:limit]
        more = len(rows) > limit and bool(page)
        return page, (Cursor(page[-1].at, page[-1].event_id) if more else None)
