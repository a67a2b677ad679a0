"""Webhook endpoints, the outbox written with every session change, and its delivery.

- :meth:`WebhookService.write_outbox` is an *in-transaction* change-event subscriber: the
  delivery rows are written by the same transaction as the session change, so there is one
  exactly when the change committed.
- :meth:`WebhookService.deliver_due` is the delivery job: it claims due deliveries (a writer
  op, SQL only), sends them over HTTP outside any transaction, and records the outcomes (a
  second op). Several server processes may run it at once.
- :meth:`WebhookService.prune` removes what is done with, in bounded chunks.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
from sqlalchemy.engine import Connection

from sessionkeeper.domain.events import ChangeEvent
from sessionkeeper.domain.ids import time_ordered_id
from sessionkeeper.domain.principal import Principal
from sessionkeeper.errors import Conflict, InvalidInput, NotFound
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage.transaction import Transaction
from sessionkeeper.webhooks import rules, sender, store
from sessionkeeper.webhooks.rules import DeliveryStatus, TargetRefused
from sessionkeeper.webhooks.store import Claimed, Delivery, Endpoint, Outcome
from sessionkeeper.webhooks.targets import resolve

MAX_ENDPOINTS = 20
# Deliveries claimed and sent at once by one run of the job.
CLAIM_BATCH = 16
# Claims one run of the job makes at most before it yields to the next interval.
MAX_CLAIMS_PER_RUN = 20
PRUNE_CHUNK = 5000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class NewSecret:
    endpoint: Endpoint
    secret: str


class WebhookService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.random = random.Random()

    @property
    def allow_private(self) -> bool:
        return self.rt.settings.webhook_allow_private

    def _id(self, prefix: str) -> str:
        return prefix + time_ordered_id(self.rt.clock.now_ms(), os.urandom(10))

    # --- endpoints -------------------------------------------------------------------------

    async def create(
        self, principal: Principal, url: str, events: Sequence[str], description: str | None
    ) -> NewSecret:
        try:
            await resolve(url, allow_private=self.allow_private)
        except TargetRefused as exc:
            raise InvalidInput(str(exc), field="url", code="webhook_target_refused") from None
        now = self.rt.clock.now_ms()
        secret = rules.secret_of(os.urandom(rules.SECRET_BYTES))
        endpoint_id = self._id("wh_")
        values = {
            "id": endpoint_id,
            "tenant_id": principal.tenant_id,
            "url": url,
            "events": list(dict.fromkeys(events)),
            "description": description,
            "secret": secret,
            "status": store.ENABLED,
            "created_at": now,
            "updated_at": now,
        }

        def create(tx: Transaction) -> Endpoint | None:
            if store.count_endpoints(tx.conn, principal) >= MAX_ENDPOINTS:
                return None
            store.insert_endpoint(tx.conn, values)
            return store.get_endpoint(tx.conn, principal, endpoint_id)

        endpoint = await self.rt.db.writer.run(create)
        if endpoint is None:
            raise Conflict(
                f"a tenant has at most {MAX_ENDPOINTS} webhooks; delete one first",
                code="webhook_limit",
            )
        return NewSecret(endpoint, secret)

    async def endpoints(self, principal: Principal) -> list[Endpoint]:
        return await self.rt.db.reader.run(lambda conn: store.list_endpoints(conn, principal))

    async def get(self, principal: Principal, endpoint_id: str) -> Endpoint:
        endpoint = await self.rt.db.reader.run(
            lambda conn: store.get_endpoint(conn, principal, endpoint_id)
        )
        if endpoint is None:
            raise NotFound(f"no webhook '{endpoint_id}'")
        return endpoint

    async def delete(self, principal: Principal, endpoint_id: str) -> None:
        now = self.rt.clock.now_ms()
        deleted = await self.rt.db.writer.run(
            lambda tx: store.delete_endpoint(tx.conn, principal, endpoint_id, now)
        )
        if not deleted:
            raise NotFound(f"no webhook '{endpoint_id}'")

    async def rotate(self, principal: Principal, endpoint_id: str) -> NewSecret:
        """A new secret; the replaced one keeps signing for 24 h, so receivers can switch."""
        now = self.rt.clock.now_ms()
        secret = rules.secret_of(os.urandom(rules.SECRET_BYTES))

        def rotate(tx: Transaction) -> Endpoint | None:
            until = now + rules.ROTATION_OVERLAP_MS
            if not store.rotate_secret(tx.conn, principal, endpoint_id, secret, now, until):
                return None
            return store.get_endpoint(tx.conn, principal, endpoint_id)

        endpoint = await self.rt.db.writer.run(rotate)
        if endpoint is None:
            raise NotFound(f"no webhook '{endpoint_id}'")
        return NewSecret(endpoint, secret)

    # --- deliveries ------------------------------------------------------------------------

    async def deliveries(
        self,
        principal: Principal,
        endpoint_id: str,
        *,
        status: DeliveryStatus | None,
        before_seq: int | None,
        limit: int,
    ) -> tuple[list[Delivery], int | None]:
        """A page of the endpoint's deliveries, newest first, and where the next page starts."""
        await self.get(principal, endpoint_id)
        rows = await self.rt.db.reader.run(
            lambda conn: store.list_deliveries(
                conn,
                principal,
                endpoint_id,
                status=status,
                before_seq=before_seq,
                limit=limit + 1,
            )
        )
        page = rows[:limit]
        return page, (page[-1].seq if len(rows) > limit and page else None)

    async def retry(self, principal: Principal, endpoint_id: str, delivery_id: str) -> Delivery:
        """Attempt the delivery again now (with the same ``webhook-id``), whatever its state."""
        endpoint = await self.get(principal, endpoint_id)
        if endpoint.status != store.ENABLED:
            raise Conflict(
                f"webhook '{endpoint_id}' is disabled ({endpoint.disabled_reason})",
                code="webhook_disabled",
            )
        now = self.rt.clock.now_ms()
        delivery = await self.rt.db.writer.run(
            lambda tx: store.make_due(tx.conn, principal, endpoint_id, delivery_id, now)
        )
        if delivery is None:
            raise NotFound(f"no delivery '{delivery_id}' of webhook '{endpoint_id}'")
        return delivery

    # --- the outbox ------------------------------------------------------------------------

    def write_outbox(self, conn: Connection, events: Sequence[ChangeEvent]) -> None:
        """In the transaction of the change: one delivery per event and subscribed endpoint."""
        typed = [(event, rules.event_type(event)) for event in events]
        reported = [(event, type_) for event, type_ in typed if type_ is not None]
        if not reported:
            return
        by_tenant: dict[int, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
        endpoints = store.subscribed_endpoints(conn, {event.tenant_id for event, _ in reported})
        for endpoint_id, tenant_id, wanted in endpoints:
            by_tenant[tenant_id].append((endpoint_id, wanted))
        if not by_tenant:
            return
        now = self.rt.clock.now_ms()
        rows: list[dict[str, Any]] = []
        for event, type_ in reported:
            receivers = [eid for eid, wanted in by_tenant[event.tenant_id] if type_ in wanted]
            if not receivers:
                continue
            payload = rules.body(type_, rules.event_data(event), now)
            for endpoint_id in receivers:
                rows.append(
                    {
                        "id": self._id("msg_"),
                        "tenant_id": event.tenant_id,
                        "endpoint_id": endpoint_id,
                        "event_type": type_,
                        "payload": payload,
                        "status": DeliveryStatus.PENDING.value,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
        store.insert_deliveries(conn, rows)

    # --- the delivery job ------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Send every due delivery (up to a bound per run); returns how many were attempted."""
        attempted = 0
        client: httpx.AsyncClient | None = None
        try:
            for _ in range(MAX_CLAIMS_PER_RUN):
                now = self.rt.clock.now_ms()
                if not await self.rt.db.reader.run(partial(store.any_due, now=now)):
                    break
                claimed = await self.rt.db.writer.run(partial(self._claim, now=now))
                if not claimed:
                    break
                client = client or sender.http_client()
                outcomes = await asyncio.gather(*(self._attempt(client, c) for c in claimed))
                await self.rt.db.writer.run(partial(self._record, outcomes=outcomes))
                attempted += len(claimed)
        finally:
            if client is not None:
                await client.aclose()
        return attempted

    @staticmethod
    def _claim(tx: Transaction, now: int) -> list[Claimed]:
        return store.claim_due(tx.conn, now, limit=CLAIM_BATCH, lease_ms=rules.CLAIM_LEASE_MS)

    @staticmethod
    def _record(tx: Transaction, outcomes: Sequence[Outcome]) -> int:
        return store.record_outcomes(tx.conn, outcomes)

    async def _attempt(self, client: httpx.AsyncClient, claimed: Claimed) -> Outcome:
        now = self.rt.clock.now_ms()
        timestamp_s = now // 1000
        secrets = rules.signing_secrets(
            claimed.secret, claimed.previous_secret, claimed.previous_secret_expires_at, now
        )
        signed = rules.signature(secrets, claimed.id, timestamp_s, claimed.payload)
        attempt = await sender.send(
            client,
            claimed.url,
            rules.headers(claimed.id, timestamp_s, signed),
            claimed.payload.encode(),
            allow_private=self.allow_private,
        )
        at = self.rt.clock.now_ms()
        decision = rules.decide(claimed.attempts, attempt, at, self.random.random())
        return Outcome(claimed=claimed, attempt=attempt, decision=decision, at=at)

    async def prune(self) -> int:
        """Remove deliveries older than the retention and deleted endpoints, chunk by chunk."""
        older_than = self.rt.clock.now_ms() - self.rt.settings.webhook_retention_days * DAY_MS
        removed = 0
        while True:
            chunk = await self.rt.db.writer.run(
                lambda tx: store.prune(tx.conn, older_than, limit=PRUNE_CHUNK)
            )
            removed += chunk
            if chunk < PRUNE_CHUNK:
                return removed
