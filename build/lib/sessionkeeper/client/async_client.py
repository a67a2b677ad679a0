"""The asyncio client: the same operations as :class:`Client`, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar, Unpack

import httpx

from sessionkeeper.client import calls
from sessionkeeper.client.admin_models import ApiKey, ApiKeyPage, NewApiKey, NewTenant, TenantPage
from sessionkeeper.client.calls import Call, SessionFilters, default_headers
from sessionkeeper.client.errors import unreachable
from sessionkeeper.client.handles import AsyncSessionHandle
from sessionkeeper.client.models import (
    BatchResult,
    EndBy,
    Health,
    Page,
    Policies,
    Policy,
    PresenceResult,
    PresenceSummary,
    Session,
    SweepResult,
)
from sessionkeeper.client.retry import RETRYABLE_ERRORS, RetryPolicy

T = TypeVar("T")


class AsyncClient:
    """A connection to one sessionkeeper server with one API key, for asyncio.

    Retries as :class:`Client` does. Use it from one event loop.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10,
        retries: int = 5,
        backoff: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
        tenant: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.retry = RetryPolicy(retries=retries, backoff=backoff)
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=default_headers(api_key, tenant),
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def send(self, call: Call[T], *, retries: int | None = None) -> T:
        """Send ``call`` (see :mod:`sessionkeeper.client.calls`), retrying transient failures
        up to ``retries`` times (default: the client's); every attempt is the same request."""
        limit = self.retry.retries if retries is None else retries
        attempt = 0
        wait: float | None
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, params=call.params, **call.body()
                )
            except RETRYABLE_ERRORS as exc:
                if attempt >= limit:
                    raise unreachable(self.base_url, exc) from exc
                wait = self.retry.delay(attempt)
            else:
                wait = self.retry.after_response(response, attempt, limit)
                if wait is None:
                    return call.result(response)
            await asyncio.sleep(wait)
            attempt += 1

    # Sessions

    async def start(
        self,
        user_id: str,
        kind: str,
        *,
        label: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        id: str | None = None,
        started_at: datetime | None = None,
    ) -> Session:
        """Start a session. Without ``id`` one is made here, so a retry cannot duplicate it."""
        return await self.send(
            calls.start(
                user_id, kind, label=label, attributes=attributes, id=id, started_at=started_at
            )
        )

    async def heartbeat(
        self,
        session_id: str,
        *,
        at: datetime | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Session:
        """Say the session is still going; raises :class:`Conflict` once it is closed."""
        return await self.send(calls.heartbeat(session_id, at=at, attributes=attributes))

    async def heartbeat_batch(
        self, items: Iterable[str | tuple[str, datetime | None]]
    ) -> BatchResult:
        """Up to 1,000 heartbeats in one request: session ids, or ``(id, at)`` pairs."""
        return await self.send(calls.heartbeat_batch(items))

    # The earlier name of heartbeat_batch, kept for existing callers.
    heartbeat_many = heartbeat_batch

    async def end(
        self, session_id: str, *, at: datetime | None = None, reason: EndBy = "client"
    ) -> Session:
        """End the session; ending a closed session returns it unchanged."""
        return await self.send(calls.end(session_id, at=at, reason=reason))

    async def get(self, session_id: str) -> Session:
        return await self.send(calls.get(session_id))

    async def list(self, **filters: Unpack[SessionFilters]) -> Page:
        """One page of sessions, newest first; pass ``cursor=page.next_cursor`` for more."""
        return await self.send(calls.list_sessions(**filters))

    async def pages(self, **filters: Unpack[SessionFilters]) -> AsyncIterator[Page]:
        """Every page of the listing, following the cursors."""
        query: SessionFilters = {**filters}
        while True:
            page = await self.list(**query)
            yield page
            if page.next_cursor is None:
                return
            query["cursor"] = page.next_cursor

    async def iter_sessions(self, **filters: Unpack[SessionFilters]) -> AsyncIterator[Session]:
        """Every session of the listing, across all pages."""
        async for page in self.pages(**filters):
            for session in page.items:
                yield session

    def session(
        self,
        user_id: str,
        kind: str,
        *,
        label: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        id: str | None = None,
        heartbeat_every: float | None = None,
    ) -> AsyncSessionHandle:
        """A session for an ``async with`` block: started on entry, heartbeated by an
        asyncio task at the kind's policy interval (or ``heartbeat_every``), ended on exit."""
        return AsyncSessionHandle(
            self,
            user_id,
            kind,
            label=label,
            attributes=attributes,
            id=id,
            heartbeat_every=heartbeat_every,
        )

    # Policies, health, maintenance

    async def put_policy(
        self,
        kind: str,
        *,
        heartbeat_interval_s: float | None = None,
        timeout_s: float | None = None,
        grace_s: float | None = None,
    ) -> Policy:
        """Set the policy of ``kind`` (``*``: the default); unset values get defaults."""
        return await self.send(
            calls.put_policy(
                kind,
                heartbeat_interval_s=heartbeat_interval_s,
                timeout_s=timeout_s,
                grace_s=grace_s,
            )
        )

    async def policies(self) -> Policies:
        return await self.send(calls.policies())

    async def health(self, details: bool = False) -> Health:
        return await self.send(calls.health(details=details))

    async def sweep(self) -> SweepResult:
        """Close every overdue session now (needs an admin key)."""
        return await self.send(calls.sweep())

    # Admin: the key's tenant's API keys (an admin key); tenants (the operator key)

    async def keys(self, *, cursor: str | None = None, limit: int | None = None) -> ApiKeyPage:
        return await self.send(calls.keys(cursor=cursor, limit=limit))

    async def create_key(self, scope: str) -> NewApiKey:
        """A new key of the tenant; ``.key`` is the key itself, shown only this once."""
        return await self.send(calls.create_key(scope))

    async def revoke_key(self, key_id: int) -> ApiKey:
        return await self.send(calls.revoke_key(key_id))

    async def tenants(self, *, cursor: str | None = None, limit: int | None = None) -> TenantPage:
        return await self.send(calls.tenants(cursor=cursor, limit=limit))

    async def create_tenant(self, name: str) -> NewTenant:
        """A new tenant and its first admin key (``.admin_key.key``, shown only now)."""
        return await self.send(calls.create_tenant(name))

    # Presence

    async def presence_snapshot(
        self,
        source: str,
        entries: Iterable[Mapping[str, Any]],
        *,
        at: datetime | None = None,
        dry_run: bool = False,
        compress: bool = False,
    ) -> PresenceResult:
        """The full current state of ``source``: missing sessions end, new ones start.
        ``compress`` sends the body gzipped (worth it from a few hundred entries)."""
        return await self.send(
            calls.presence_snapshot(source, entries, at=at, dry_run=dry_run, compress=compress)
        )

    async def presence_snapshot_summary(
        self,
        source: str,
        entries: Iterable[Mapping[str, Any]],
        *,
        at: datetime | None = None,
        dry_run: bool = False,
        compress: bool = False,
    ) -> PresenceSummary:
        """:meth:`presence_snapshot`, answered with counts only."""
        return await self.send(
            calls.presence_snapshot_summary(
                source, entries, at=at, dry_run=dry_run, compress=compress
            )
        )

    async def presence_changes(
        self,
        source: str,
        joins: Iterable[Mapping[str, Any]] = (),
        leaves: Iterable[Mapping[str, Any]] = (),
        *,
        at: datetime | None = None,
        keepalive: bool = False,
        dry_run: bool = False,
        compress: bool = False,
    ) -> PresenceResult:
        """Incremental joins and leaves; ``keepalive`` refreshes the source's other sessions."""
        return await self.send(
            calls.presence_changes(
                source,
                joins,
                leaves,
                at=at,
                keepalive=keepalive,
                dry_run=dry_run,
                compress=compress,
            )
        )
