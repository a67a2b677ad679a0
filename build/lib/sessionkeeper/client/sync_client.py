"""The blocking client."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar, Unpack

import httpx

from sessionkeeper.client import calls
from sessionkeeper.client.admin_models import ApiKey, ApiKeyPage, NewApiKey, NewTenant, TenantPage
from sessionkeeper.client.calls import Call, SessionFilters, default_headers
from sessionkeeper.client.errors import unreachable
from sessionkeeper.client.handles import SessionHandle
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


class Client:
    """A connection to one sessionkeeper server with one API key.

    Transient failures (5xx, 429, no connection, timeouts) are retried up to ``retries``
    times with exponential backoff starting at ``backoff`` seconds; every retry sends the
    same request, ids included. Safe to share between threads.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10,
        retries: int = 5,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
        tenant: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.retry = RetryPolicy(retries=retries, backoff=backoff)
        self._http = httpx.Client(
            base_url=base_url,
            headers=default_headers(api_key, tenant),
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, call: Call[T], *, retries: int | None = None) -> T:
        """Send ``call`` (see :mod:`sessionkeeper.client.calls`), retrying transient failures
        up to ``retries`` times (default: the client's); every attempt is the same request."""
        limit = self.retry.retries if retries is None else retries
        attempt = 0
        wait: float | None
        while True:
            try:
                response = self._http.request(
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
            time.sleep(wait)
            attempt += 1

    # Sessions

    def start(
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
        return self.send(
            calls.start(
                user_id, kind, label=label, attributes=attributes, id=id, started_at=started_at
            )
        )

    def heartbeat(
        self,
        session_id: str,
        *,
        at: datetime | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Session:
        """Say the session is still going; raises :class:`Conflict` once it is closed."""
        return self.send(calls.heartbeat(session_id, at=at, attributes=attributes))

    def heartbeat_batch(self, items: Iterable[str | tuple[str, datetime | None]]) -> BatchResult:
        """Up to 1,000 heartbeats in one request: session ids, or ``(id, at)`` pairs."""
        return self.send(calls.heartbeat_batch(items))

    # The earlier name of heartbeat_batch, kept for existing callers.
    heartbeat_many = heartbeat_batch

    def end(
        self, session_id: str, *, at: datetime | None = None, reason: EndBy = "client"
    ) -> Session:
        """End the session; ending a closed session returns it unchanged."""
        return self.send(calls.end(session_id, at=at, reason=reason))

    def get(self, session_id: str) -> Session:
        return self.send(calls.get(session_id))

    def list(self, **filters: Unpack[SessionFilters]) -> Page:
        """One page of sessions, newest first; pass ``cursor=page.next_cursor`` for more."""
        return self.send(calls.list_sessions(**filters))

    def pages(self, **filters: Unpack[SessionFilters]) -> Iterator[Page]:
        """Every page of the listing, following the cursors."""
        query: SessionFilters = {**filters}
        while True:
            page = self.list(**query)
            yield page
            if page.next_cursor is None:
                return
            query["cursor"] = page.next_cursor

    def iter_sessions(self, **filters: Unpack[SessionFilters]) -> Iterator[Session]:
        """Every session of the listing, across all pages."""
        for page in self.pages(**filters):
            yield from page.items

    def session(
        self,
        user_id: str,
        kind: str,
        *,
        label: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        id: str | None = None,
        heartbeat_every: float | None = None,
    ) -> SessionHandle:
        """A session for a ``with`` block: started on entry, heartbeated in a background
        thread at the kind's policy interval (or ``heartbeat_every``), ended on exit."""
        return SessionHandle(
            self,
            user_id,
            kind,
            label=label,
            attributes=attributes,
            id=id,
            heartbeat_every=heartbeat_every,
        )

    # Policies, health, maintenance

    def put_policy(
        self,
        kind: str,
        *,
        heartbeat_interval_s: float | None = None,
        timeout_s: float | None = None,
        grace_s: float | None = None,
    ) -> Policy:
        """Set the policy of ``kind`` (``*``: the default); unset values get defaults."""
        return self.send(
            calls.put_policy(
                kind,
                heartbeat_interval_s=heartbeat_interval_s,
                timeout_s=timeout_s,
                grace_s=grace_s,
            )
        )

    def policies(self) -> Policies:
        return self.send(calls.policies())

    def health(self, details: bool = False) -> Health:
        return self.send(calls.health(details=details))

    def sweep(self) -> SweepResult:
        """Close every overdue session now (needs an admin key)."""
        return self.send(calls.sweep())

    # Admin: the key's tenant's API keys (an admin key); tenants (the operator key)

    def keys(self, *, cursor: str | None = None, limit: int | None = None) -> ApiKeyPage:
        return self.send(calls.keys(cursor=cursor, limit=limit))

    def create_key(self, scope: str) -> NewApiKey:
        """A new key of the tenant; ``.key`` is the key itself, shown only this once."""
        return self.send(calls.create_key(scope))

    def revoke_key(self, key_id: int) -> ApiKey:
        return self.send(calls.revoke_key(key_id))

    def tenants(self, *, cursor: str | None = None, limit: int | None = None) -> TenantPage:
        return self.send(calls.tenants(cursor=cursor, limit=limit))

    def create_tenant(self, name: str) -> NewTenant:
        """A new tenant and its first admin key (``.admin_key.key``, shown only now)."""
        return self.send(calls.create_tenant(name))

    # Presence

    def presence_snapshot(
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
        return self.send(
            calls.presence_snapshot(source, entries, at=at, dry_run=dry_run, compress=compress)
        )

    def presence_snapshot_summary(
        self,
        source: str,
        entries: Iterable[Mapping[str, Any]],
        *,
        at: datetime | None = None,
        dry_run: bool = False,
        compress: bool = False,
    ) -> PresenceSummary:
        """:meth:`presence_snapshot`, answered with counts only."""
        return self.send(
            calls.presence_snapshot_summary(
                source, entries, at=at, dry_run=dry_run, compress=compress
            )
        )

    def presence_changes(
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
        return self.send(
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
