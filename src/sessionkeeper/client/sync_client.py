"""The blocking client."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import IO, Any, TypeVar, Unpack

import httpx

from sessionkeeper.client import calls, room_calls
from sessionkeeper.client.admin_models import ApiKey, ApiKeyPage, NewApiKey, NewTenant, TenantPage
from sessionkeeper.client.analytics_client import Analytics
from sessionkeeper.client.calls import EXPORT_PATH, Call, Filters, SessionFilters, default_headers
from sessionkeeper.client.errors import error_from_response, unreachable
from sessionkeeper.client.export import CsvRecords
from sessionkeeper.client.handles import (
    DEFAULT_DRAIN_WAIT_S,
    SessionHandle,
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
from sessionkeeper.client.rooms import RoomRef
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


class Client(Analytics):
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
        spool: str | os.PathLike[str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.retry = RetryPolicy(retries=retries, backoff=backoff)
        # Where handles keep what they could not deliver, so that it outlives the process.
        self.spool = None if spool is None else Spool(spool)
        self._http = httpx.Client(
            base_url=base_url,
            headers=default_headers(api_key, tenant),
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

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

    def _open_stream(self, path: str, params: Mapping[str, str]) -> httpx.Response:
        """A streamed GET whose answer is a 2xx, retried as ``send`` retries until its
        answer begins; the caller reads and closes it. Once the body flows, a failure is
        the caller's: a half-read stream cannot be sent again unnoticed."""
        attempt = 0
        wait: float | None
        while True:
            request = self._http.build_request("GET", path, params=params)
            try:
                response = self._http.send(request, stream=True)
            except RETRYABLE_ERRORS as exc:
                if attempt >= self.retry.retries:
                    raise unreachable(self.base_url, exc) from exc
                wait = self.retry.delay(attempt)
            else:
                if response.is_success:
                    return response
                response.read()
                response.close()
                wait = self.retry.after_response(response, attempt, self.retry.retries)
                if wait is None:
                    raise error_from_response(response)
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
        continues: str | None = None,
        subject: Mapping[str, str] | None = None,
    ) -> Session:
        """Start a session. Without ``id`` one is made here, so a retry cannot duplicate it.
        ``continues`` names the same user's earlier session that this one continues;
        ``subject`` holds filterable ids (``{"teacher_id": "t1"}``)."""
        return self.send(
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

    def heartbeat(
        self,
        session_id: str,
        *,
        at: datetime | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> HeartbeatResult:
        """Say the session is still going; raises :class:`Conflict` once it is closed."""
        return self.send(calls.heartbeat(session_id, at=at, attributes=attributes))

    def heartbeat_batch(self, items: Iterable[str | tuple[str, datetime | None]]) -> BatchResult:
        """Up to 1,000 heartbeats in one request: session ids, or ``(id, at)`` pairs."""
        return self.send(calls.heartbeat_batch(items))

    # The earlier name of heartbeat_batch, kept for existing callers.
    heartbeat_many = heartbeat_batch

    def end(
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
        return self.send(calls.end(session_id, at=at, reason=reason, outcome=outcome))

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

    def stats(self, group_by: str | None = None, **filters: Unpack[Filters]) -> SessionStats:
        """Counts and durations of the matching sessions; ``group_by`` is ``kind``, ``day``
        or ``subject.<field>``."""
        return self.send(calls.session_stats(group_by, **filters))

    def export_csv(
        self,
        destination: str | os.PathLike[str] | IO[bytes],
        *,
        subject_fields: Iterable[str] | None = None,
        **filters: Unpack[Filters],
    ) -> int:
        """Stream the CSV export of the matching sessions into a file (a path or a binary
        file object), without holding it in memory; returns the bytes written."""
        response = self._open_stream(EXPORT_PATH, calls.export_params(subject_fields, filters))
        written = 0
        try:
            if isinstance(destination, str | os.PathLike):
                with open(destination, "wb") as file:
                    for chunk in response.iter_bytes():
                        written += file.write(chunk)
            else:
                for chunk in response.iter_bytes():
                    written += destination.write(chunk)
        finally:
            response.close()
        return written

    def iter_export(
        self, *, subject_fields: Iterable[str] | None = None, **filters: Unpack[Filters]
    ) -> Iterator[dict[str, str]]:
        """Each row of the CSV export as a dict keyed by the header, as it streams in."""
        response = self._open_stream(EXPORT_PATH, calls.export_params(subject_fields, filters))
        records = CsvRecords()
        try:
            for text in response.iter_text():
                yield from records.feed(text)
        finally:
            response.close()

    def session(self, user_id: str, kind: str, **options: Unpack[SessionOptions]) -> SessionHandle:
        """A session for a ``with`` block: started on entry, heartbeated in the background at
        the kind's policy interval (or ``heartbeat_every``), ended on exit. Tracking never
        breaks the app: what the server cannot take now is kept and delivered later, and a
        real gap starts a continuation session; see :class:`SessionOptions` for the options
        and :mod:`sessionkeeper.client.handles` for the rules."""
        return SessionHandle(self, user_id, kind, **options)

    def deliver_spooled(self, wait: float = DEFAULT_DRAIN_WAIT_S) -> tuple[SessionHandle, ...]:
        """Deliver what handles of earlier processes kept in the spool and could not send
        (the client's ``spool`` directory; see :mod:`sessionkeeper.client.spool`), each with
        its own times. Waits at most ``wait`` seconds; what is still undelivered then goes on
        in the background, and stays on disk for the next process until it is delivered.
        Returns a handle per spooled session chain (``sessions``, ``pending``). Never raises
        for a transport failure; files still held by a live handle are left alone."""
        if self.spool is None:
            return ()
        handles = tuple(
            SessionHandle.resumed(self, file, outbox)
            for file, outbox in spooled(self.spool, self.retry.backoff)
        )
        deadline = time.monotonic() + wait
        for handle in handles:
            handle.wait_delivered(max(0.0, deadline - time.monotonic()))
        return handles

    # Policies, health, maintenance

    def put_policy(
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
        return self.send(
            calls.put_policy(
                kind,
                heartbeat_interval_s=heartbeat_interval_s,
                timeout_s=timeout_s,
                grace_s=grace_s,
                presence_interval_s=presence_interval_s,
                room_timeout_s=room_timeout_s,
            )
        )

    def policies(self) -> Policies:
        return self.send(calls.policies())

    def health(self, details: bool = False) -> Health:
        return self.send(calls.health(details=details))

    def sweep(self) -> SweepResult:
        """Close every overdue session now (needs an admin key)."""
        return self.send(calls.sweep())

    def quality(self, *, days: int | None = None, group_by: str | None = None) -> QualityReport:
        """How the sessions of the last ``days`` days ended, per ``kind``, ``source`` or
        ``day``, and how much of their time is estimated."""
        return self.send(calls.quality(days=days, group_by=group_by))

    def audit(
        self, *, action: str | None = None, before: int | None = None, limit: int | None = None
    ) -> AuditPage:
        """The tenant's audit log, newest first (needs an admin key); page on with
        ``before=page.next_before``."""
        return self.send(calls.audit(action=action, before=before, limit=limit))

    # Rooms

    def create_room(
        self,
        kind: str,
        created_by: str,
        *,
        id: str | None = None,
        label: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Room:
        """Create a room. Without ``id`` one is made here, so a retry cannot duplicate it."""
        return self.send(
            room_calls.create_room(kind, created_by, id=id, label=label, attributes=attributes)
        )

    def get_room(self, room_id: str) -> Room:
        """The room with its participants and their attendance segments."""
        return self.send(room_calls.get_room(room_id))

    def list_rooms(self, **filters: Unpack[RoomFilters]) -> RoomPage:
        """One page of rooms, newest first; pass ``cursor=page.next_cursor`` for more."""
        return self.send(room_calls.list_rooms(**filters))

    def join_room(
        self,
        room_id: str,
        user_id: str,
        *,
        invite_token: str | None = None,
        at: datetime | None = None,
    ) -> Participant:
        """Join (or, while present, continue); raises :class:`Conflict` for a closed room and
        :class:`Gone` or :class:`Conflict` with ``.code`` for an invitation that is refused."""
        return self.send(room_calls.join(room_id, user_id, invite_token=invite_token, at=at))

    def presence(self, room_id: str, user_id: str, *, at: datetime | None = None) -> Participant:
        """Still here; :class:`Conflict` ``not_present`` once the attendance closed."""
        return self.send(room_calls.presence(room_id, user_id, at=at))

    def leave_room(self, room_id: str, user_id: str, *, at: datetime | None = None) -> Participant:
        return self.send(room_calls.leave(room_id, user_id, at=at))

    def end_room(self, room_id: str, *, at: datetime | None = None) -> Room:
        """Close the room and every attendance in it."""
        return self.send(room_calls.end_room(room_id, at=at))

    def invite(
        self,
        room_id: str,
        *,
        max_uses: int | None = None,
        expires_at: datetime | None = None,
        expires_with_room: bool = True,
    ) -> Invite:
        """An invitation to the room; its ``token`` is shown only in this answer."""
        return self.send(
            room_calls.invite(
                room_id,
                max_uses=max_uses,
                expires_at=expires_at,
                expires_with_room=expires_with_room,
            )
        )

    def inspect_invite(self, token: str) -> InviteStatus:
        """What a join with ``token`` would meet now; never uses the invitation."""
        return self.send(room_calls.inspect_invite(token))

    def revoke_invite(self, invite_id: str) -> None:
        self.send(room_calls.revoke_invite(invite_id))

    def room(self, room_id: str) -> RoomRef:
        """``with client.room(room_id).join(user_id) as p:`` (see :mod:`.rooms`)."""
        return RoomRef(self, room_id)

    def cleanup(self) -> CleanupResult:
        """Close every inactive room now (needs an admin key)."""
        return self.send(room_calls.cleanup())

    def cleanup_status(self) -> CleanupStatus:
        return self.send(room_calls.cleanup_status())

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

    # Webhooks (every call needs an admin key)

    def create_webhook(
        self, url: str, events: Iterable[str], *, description: str | None = None
    ) -> WebhookCreated:
        """Register an endpoint; the answer's ``secret`` is shown only this once. Not retried:
        a second try after a lost answer would register a second endpoint."""
        return self.send(calls.create_webhook(url, events, description=description), retries=0)

    def webhooks(self) -> tuple[Webhook, ...]:
        return self.send(calls.webhooks())

    def get_webhook(self, webhook_id: str) -> Webhook:
        return self.send(calls.get_webhook(webhook_id))

    def delete_webhook(self, webhook_id: str) -> None:
        self.send(calls.delete_webhook(webhook_id))

    def rotate_webhook_secret(self, webhook_id: str) -> WebhookSecret:
        """A new secret, shown only now; the old one also signs for 24 h. Not retried."""
        return self.send(calls.rotate_webhook_secret(webhook_id), retries=0)

    def webhook_deliveries(
        self,
        webhook_id: str,
        *,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> DeliveryPage:
        """One page of the endpoint's deliveries, newest first."""
        return self.send(
            calls.webhook_deliveries(webhook_id, status=status, limit=limit, cursor=cursor)
        )

    def retry_webhook_delivery(self, webhook_id: str, delivery_id: str) -> Delivery:
        """Attempt the delivery again now, with the same ``webhook-id``."""
        return self.send(calls.retry_webhook_delivery(webhook_id, delivery_id))
