"""The asyncio client: the same operations as :class:`Client`, awaited."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import IO, Any, TypeVar, Unpack

import httpx

from sessionkeeper.client import calls, room_calls
from sessionkeeper.client.admin_models import ApiKey, ApiKeyPage, NewApiKey, NewTenant, TenantPage
from sessionkeeper.client.analytics_client import AsyncAnalytics
from sessionkeeper.client.calls import EXPORT_PATH, Call, Filters, SessionFilters, default_headers
from sessionkeeper.client.errors import error_from_response, unreachable
from sessionkeeper.client.export import CsvRecords
from sessionkeeper.client.handles import (
    DEFAULT_DRAIN_WAIT_S,
    AsyncSessionHandle,
    SessionOptions,
    spooled,
)
from sessionkeeper.client.models import BatchResult, EndBy, HeartbeatResult, Page, Session
from sessionkeeper.client.operation_models import (
    AuditPage,
    Health,
    Policies,
    Policy,
    QualityReport,
    SweepResult,
)
from sessionkeeper.client.presence_models import PresenceResult, PresenceSummary
from sessionkeeper.client.retry import RETRYABLE_ERRORS, RetryPolicy
from sessionkeeper.client.room_calls import RoomFilters
from sessionkeeper.client.room_models import (
    CleanupResult,
    CleanupStatus,
    Invite,
    InviteStatus,
    Participant,
    Room,
    RoomPage,
)
from sessionkeeper.client.rooms import AsyncRoomRef
from sessionkeeper.client.spool import Spool
from sessionkeeper.client.stats_models import SessionStats
from sessionkeeper.client.webhook_models import (
    Delivery,
    DeliveryPage,
    Webhook,
    WebhookCreated,
    WebhookSecret,
)

T = TypeVar("T")


class AsyncClient(AsyncAnalytics):
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
        spool: str | os.PathLike[str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.retry = RetryPolicy(retries=retries, backoff=backoff)
        # Where handles keep what they could not deliver, so that it outlives the process.
        self.spool = None if spool is None else Spool(spool)
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=default_headers(api_key, tenant),
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

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

    async def _open_stream(self, path: str, params: Mapping[str, str]) -> httpx.Response:
        """As :meth:`Client._open_stream`: retried until the answer begins, then the caller's."""
        attempt = 0
        wait: float | None
        while True:
            request = self._http.build_request("GET", path, params=params)
            try:
                response = await self._http.send(request, stream=True)
            except RETRYABLE_ERRORS as exc:
                if attempt >= self.retry.retries:
                    raise unreachable(self.base_url, exc) from exc
                wait = self.retry.delay(attempt)
            else:
                if response.is_success:
                    return response
                await response.aread()
                await response.aclose()
                wait = self.retry.after_response(response, attempt, self.retry.retries)
                if wait is None:
                    raise error_from_response(response)
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
        continues: str | None = None,
        subject: Mapping[str, str] | None = None,
    ) -> Session:
        """Start a session. Without ``id`` one is made here, so a retry cannot duplicate it.
        ``continues`` names the same user's earlier session that this one continues;
        ``subject`` holds filterable ids (``{"teacher_id": "t1"}``)."""
        return await self.send(
            calls.start(
                user_id,
                kind,
                label=label,
                attributes=attributes,
                id=id,
                started_at=started_at,
                continues=continues,
                subject=subject,
            )
        )

    async def heartbeat(
        self,
        session_id: str,
        *,
        at: datetime | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> HeartbeatResult:
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
        self,
        session_id: str,
        *,
        at: datetime | None = None,
        reason: EndBy = "client",
        outcome: Mapping[str, Any] | None = None,
    ) -> Session:
        """End the session; ending a closed session returns it unchanged. ``outcome``
        (``metrics``, ``counters``, ``tags``, ``metadata``) is stored with the end, also on a
        closed session; a refused one (:class:`InvalidInput`) refuses the end."""
        return await self.send(calls.end(session_id, at=at, reason=reason, outcome=outcome))

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

    async def stats(self, group_by: str | None = None, **filters: Unpack[Filters]) -> SessionStats:
        """Counts and durations of the matching sessions; ``group_by`` is ``kind``, ``day``
        or ``subject.<field>``."""
        return await self.send(calls.session_stats(group_by, **filters))

    async def export_csv(
        self,
        destination: str | os.PathLike[str] | IO[bytes],
        *,
        subject_fields: Iterable[str] | None = None,
        **filters: Unpack[Filters],
    ) -> int:
        """Stream the CSV export into a file (a path or a binary file object); returns the
        bytes written. The writes are small and blocking, as a local file's are."""
        params = calls.export_params(subject_fields, filters)
        response = await self._open_stream(EXPORT_PATH, params)
        written = 0
        try:
            if isinstance(destination, str | os.PathLike):
                with open(destination, "wb") as file:
                    async for chunk in response.aiter_bytes():
                        written += file.write(chunk)
            else:
                async for chunk in response.aiter_bytes():
                    written += destination.write(chunk)
        finally:
            await response.aclose()
        return written

    async def iter_export(
        self, *, subject_fields: Iterable[str] | None = None, **filters: Unpack[Filters]
    ) -> AsyncIterator[dict[str, str]]:
        """Each row of the CSV export as a dict keyed by the header, as it streams in."""
        params = calls.export_params(subject_fields, filters)
        response = await self._open_stream(EXPORT_PATH, params)
        records = CsvRecords()
        try:
            async for text in response.aiter_text():
                for row in records.feed(text):
                    yield row
        finally:
            await response.aclose()

    def session(
        self, user_id: str, kind: str, **options: Unpack[SessionOptions]
    ) -> AsyncSessionHandle:
        """A session for an ``async with`` block, as :meth:`Client.session` describes; its
        heartbeats and deliveries run as asyncio tasks."""
        return AsyncSessionHandle(self, user_id, kind, **options)

    async def deliver_spooled(
        self, wait: float = DEFAULT_DRAIN_WAIT_S
    ) -> tuple[AsyncSessionHandle, ...]:
        """Deliver what handles of earlier processes kept in the spool, as
        :meth:`Client.deliver_spooled` does; the deliveries run as tasks of this loop."""
        if self.spool is None:
            return ()
        handles = tuple(
            AsyncSessionHandle.resumed(self, file, outbox)
            for file, outbox in spooled(self.spool, self.retry.backoff)
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        for handle in handles:
            await handle.wait_delivered(max(0.0, deadline - loop.time()))
        return handles

    # Policies, health, maintenance

    async def put_policy(
        self,
        kind: str,
        *,
        heartbeat_interval_s: float | None = None,
        timeout_s: float | None = None,
        grace_s: float | None = None,
        presence_interval_s: float | None = None,
        room_timeout_s: float | None = None,
    ) -> Policy:
        """Set the policy of ``kind`` (``*``: the default); unset values get defaults."""
        return await self.send(
            calls.put_policy(
                kind,
                heartbeat_interval_s=heartbeat_interval_s,
                timeout_s=timeout_s,
                grace_s=grace_s,
                presence_interval_s=presence_interval_s,
                room_timeout_s=room_timeout_s,
            )
        )

    async def policies(self) -> Policies:
        return await self.send(calls.policies())

    async def health(self, details: bool = False) -> Health:
        return await self.send(calls.health(details=details))

    async def sweep(self) -> SweepResult:
        """Close every overdue session now (needs an admin key)."""
        return await self.send(calls.sweep())

    async def quality(
        self, *, days: int | None = None, group_by: str | None = None
    ) -> QualityReport:
        """How the sessions of the last ``days`` days ended, per ``kind``, ``source`` or
        ``day``, and how much of their time is estimated."""
        return await self.send(calls.quality(days=days, group_by=group_by))

    async def audit(
        self, *, action: str | None = None, before: int | None = None, limit: int | None = None
    ) -> AuditPage:
        """The tenant's audit log, newest first (needs an admin key); page on with
        ``before=page.next_before``."""
        return await self.send(calls.audit(action=action, before=before, limit=limit))

    # Rooms

    async def create_room(
        self,
        kind: str,
        created_by: str,
        *,
        id: str | None = None,
        label: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Room:
        """Create a room. Without ``id`` one is made here, so a retry cannot duplicate it."""
        return await self.send(
            room_calls.create_room(kind, created_by, id=id, label=label, attributes=attributes)
        )

    async def get_room(self, room_id: str) -> Room:
        """The room with its participants and their attendance segments."""
        return await self.send(room_calls.get_room(room_id))

    async def list_rooms(self, **filters: Unpack[RoomFilters]) -> RoomPage:
        """One page of rooms, newest first; pass ``cursor=page.next_cursor`` for more."""
        return await self.send(room_calls.list_rooms(**filters))

    async def join_room(
        self,
        room_id: str,
        user_id: str,
        *,
        invite_token: str | None = None,
        at: datetime | None = None,
    ) -> Participant:
        """Join (or, while present, continue); raises :class:`Conflict` for a closed room and
        :class:`Gone` or :class:`Conflict` with ``.code`` for an invitation that is refused."""
        return await self.send(room_calls.join(room_id, user_id, invite_token=invite_token, at=at))

    async def presence(
        self, room_id: str, user_id: str, *, at: datetime | None = None
    ) -> Participant:
        """Still here; :class:`Conflict` ``not_present`` once the attendance closed."""
        return await self.send(room_calls.presence(room_id, user_id, at=at))

    async def leave_room(
        self, room_id: str, user_id: str, *, at: datetime | None = None
    ) -> Participant:
        return await self.send(room_calls.leave(room_id, user_id, at=at))

    async def end_room(self, room_id: str, *, at: datetime | None = None) -> Room:
        """Close the room and every attendance in it."""
        return await self.send(room_calls.end_room(room_id, at=at))

    async def invite(
        self,
        room_id: str,
        *,
        max_uses: int | None = None,
        expires_at: datetime | None = None,
        expires_with_room: bool = True,
    ) -> Invite:
        """An invitation to the room; its ``token`` is shown only in this answer."""
        return await self.send(
            room_calls.invite(
                room_id,
                max_uses=max_uses,
                expires_at=expires_at,
                expires_with_room=expires_with_room,
            )
        )

    async def inspect_invite(self, token: str) -> InviteStatus:
        """What a join with ``token`` would meet now; never uses the invitation."""
        return await self.send(room_calls.inspect_invite(token))

    async def revoke_invite(self, invite_id: str) -> None:
        await self.send(room_calls.revoke_invite(invite_id))

    def room(self, room_id: str) -> AsyncRoomRef:
        """``with client.room(room_id).join(user_id) as p:`` (see :mod:`.rooms`)."""
        return AsyncRoomRef(self, room_id)

    async def cleanup(self) -> CleanupResult:
        """Close every inactive room now (needs an admin key)."""
        return await self.send(room_calls.cleanup())

    async def cleanup_status(self) -> CleanupStatus:
        return await self.send(room_calls.cleanup_status())

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

    # Webhooks (every call needs an admin key)

    async def create_webhook(
        self, url: str, events: Iterable[str], *, description: str | None = None
    ) -> WebhookCreated:
        """Register an endpoint; the answer's ``secret`` is shown only this once. Not retried:
        a second try after a lost answer would register a second endpoint."""
        call = calls.create_webhook(url, events, description=description)
        return await self.send(call, retries=0)

    async def webhooks(self) -> tuple[Webhook, ...]:
        return await self.send(calls.webhooks())

    async def get_webhook(self, webhook_id: str) -> Webhook:
        return await self.send(calls.get_webhook(webhook_id))

    async def delete_webhook(self, webhook_id: str) -> None:
        await self.send(calls.delete_webhook(webhook_id))

    async def rotate_webhook_secret(self, webhook_id: str) -> WebhookSecret:
        """A new secret, shown only now; the old one also signs for 24 h. Not retried."""
        return await self.send(calls.rotate_webhook_secret(webhook_id), retries=0)

    async def webhook_deliveries(
        self,
        webhook_id: str,
        *,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> DeliveryPage:
        """One page of the endpoint's deliveries, newest first."""
        return await self.send(
            calls.webhook_deliveries(webhook_id, status=status, limit=limit, cursor=cursor)
        )

    async def retry_webhook_delivery(self, webhook_id: str, delivery_id: str) -> Delivery:
        """Attempt the delivery again now, with the same ``webhook-id``."""
        return await self.send(calls.retry_webhook_delivery(webhook_id, delivery_id))
