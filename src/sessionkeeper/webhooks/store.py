"""SQL for webhook endpoints and deliveries. Functions run in the transaction they are given.

Claiming is safe with several server processes on one database: a claim is one conditional
UPDATE (``… WHERE status = 'pending' AND next_attempt_at <= now``) that pushes
``next_attempt_at`` a lease ahead and raises ``attempts``; on PostgreSQL the rows are picked
``FOR UPDATE SKIP LOCKED``, so two claimers take different rows, and on SQLite writes are
serialised anyway. The outcome is recorded only if ``attempts`` is still what this claim made
it (a fencing token), so an attempt presumed lost cannot overwrite a newer one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sessionkeeper.domain.principal import Principal
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.tables import tenants
from sessionkeeper.webhooks.rules import Attempt, Decision, DeliveryStatus
from sessionkeeper.webhooks.tables import webhook_deliveries as d
from sessionkeeper.webhooks.tables import webhook_endpoints as e

ENABLED = "enabled"
DISABLED = "disabled"
PENDING = DeliveryStatus.PENDING.value


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    tenant_id: int
    url: str
    events: tuple[str, ...]
    description: str | None
    status: str
    disabled_reason: str | None
    created_at: int
    updated_at: int
    previous_secret_expires_at: int | None


@dataclass(frozen=True, slots=True)
class Delivery:
    seq: int
    id: str
    endpoint_id: str
    event_type: str
    payload: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: int | None
    last_attempt_at: int | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: int | None
    created_at: int


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for one attempt, with what sending it needs."""

    seq: int
    id: str
    endpoint_id: str
    attempts: int
    payload: str
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: int | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """An attempt's result, to record against the claim that made it."""

    claimed: Claimed
    attempt: Attempt
    decision: Decision
    at: int


def _endpoint(row: RowMapping) -> Endpoint:
    return Endpoint(
        id=row["id"],
        tenant_id=row["tenant_id"],
        url=row["url"],
        events=tuple(row["events"]),
        description=row["description"],
        status=row["status"],
        disabled_reason=row["disabled_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        previous_secret_expires_at=row["previous_secret_expires_at"],
    )


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(
        seq=row["seq"],
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        event_type=row["event_type"],
        payload=row["payload"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
        created_at=row["created_at"],
    )


# --- endpoints -----------------------------------------------------------------------------

_ENDPOINT_COLUMNS = [c for c in e.c if c.name not in ("secret", "previous_secret")]


def endpoint_key(principal: Principal, endpoint_id: str) -> sa.ColumnElement[bool]:
    """The one live (not deleted) endpoint of that id, if the principal may see it."""
    return sa.and_(visible_to(e, principal), e.c.id == endpoint_id, e.c.deleted_at.is_(None))


def count_endpoints(conn: Connection, principal: Principal) -> int:
    """The tenant's webhooks, counted for its limit: the count holds to the end of the
    transaction. Its tenant's row is locked first (PostgreSQL; SQLite writes one transaction
    at a time), so a creation in another process waits here and then counts this one's
    webhook too. ``FOR NO KEY UPDATE`` leaves the row's key alone: the writes that only
    refer to the tenant go on."""
    lock = sa.select(tenants.c.id).where(tenants.c.id == principal.tenant_id)
    conn.execute(lock.with_for_update(key_share=True))
    stmt = sa.select(sa.func.count()).where(visible_to(e, principal), e.c.deleted_at.is_(None))
    return int(conn.execute(stmt).scalar_one())


def insert_endpoint(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(e.insert().values(**values))


def list_endpoints(conn: Connection, principal: Principal) -> list[Endpoint]:
    stmt = (
        sa.select(*_ENDPOINT_COLUMNS)
        .where(visible_to(e, principal), e.c.deleted_at.is_(None))
        .order_by(e.c.created_at, e.c.id)
    )
    return [_endpoint(row) for row in conn.execute(stmt).mappings()]


def get_endpoint(conn: Connection, principal: Principal, endpoint_id: str) -> Endpoint | None:
    stmt = sa.select(*_ENDPOINT_COLUMNS).where(endpoint_key(principal, endpoint_id))
    row = conn.execute(stmt).mappings().first()
    return None if row is None else _endpoint(row)


def delete_endpoint(conn: Connection, principal: Principal, endpoint_id: str, now: int) -> bool:
    """Mark it deleted: nothing more is written or sent for it; the prune job removes it."""
    stmt = (
        e.update()
        .where(endpoint_key(principal, endpoint_id))
        .values(deleted_at=now, updated_at=now)
    )
    return conn.execute(stmt).rowcount > 0


def rotate_secret(
    conn: Connection, principal: Principal, endpoint_id: str, secret: str, now: int, until: int
) -> bool:
    """Make ``secret`` the current one; the one it replaces keeps signing until ``until``."""
    stmt = (
        e.update()
        .where(endpoint_key(principal, endpoint_id))
        .values(
            previous_secret=e.c.secret,
            previous_secret_expires_at=until,
            secret=secret,
            updated_at=now,
        )
    )
    return conn.execute(stmt).rowcount > 0


def subscribed_endpoints(
    conn: Connection, tenant_ids: Iterable[int]
) -> list[tuple[str, int, tuple[str, ...]]]:
    """(id, tenant id, events) of the enabled endpoints of these tenants."""
    stmt = sa.select(e.c.id, e.c.tenant_id, e.c.events).where(
        e.c.tenant_id.in_(sorted(set(tenant_ids))),
        e.c.status == ENABLED,
        e.c.deleted_at.is_(None),
    )
    return [(row.id, row.tenant_id, tuple(row.events)) for row in conn.execute(stmt)]


# --- deliveries ----------------------------------------------------------------------------


def insert_deliveries(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(d.insert(), list(rows))


def list_deliveries(
    conn: Connection,
    principal: Principal,
    endpoint_id: str,
    *,
    status: DeliveryStatus | None,
    before_seq: int | None,
    limit: int,
) -> list[Delivery]:
    """The endpoint's deliveries, newest first."""
    conditions = [visible_to(d, principal), d.c.endpoint_id == endpoint_id]
    if status is not None:
        conditions.append(d.c.status == status.value)
    if before_seq is not None:
        conditions.append(d.c.seq < before_seq)
    stmt = sa.select(d).where(*conditions).order_by(d.c.seq.desc()).limit(limit)
    return [_delivery(row) for row in conn.execute(stmt).mappings()]


def make_due(
    conn: Connection, principal: Principal, endpoint_id: str, delivery_id: str, now: int
) -> Delivery | None:
    """Send the delivery again at the next run of the job, whatever became of it."""
    key = sa.and_(visible_to(d, principal), d.c.endpoint_id == endpoint_id, d.c.id == delivery_id)
    conn.execute(
        d.update().where(key).values(status=PENDING, next_attempt_at=now, delivered_at=None)
    )
    row = conn.execute(sa.select(d).where(key)).mappings().first()
    return None if row is None else _delivery(row)


def _due(now: int) -> sa.ColumnElement[bool]:
    return sa.and_(d.c.status == PENDING, d.c.next_attempt_at <= now)


def any_due(conn: Connection, now: int) -> bool:
    stmt = sa.select(d.c.seq).where(_due(now)).limit(1)
    return conn.execute(stmt).first() is not None


def claim_due(conn: Connection, now: int, *, limit: int, lease_ms: int) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries of enabled endpoints, oldest due first."""
    live = sa.and_(e.c.status == ENABLED, e.c.deleted_at.is_(None))
    picked = (
        sa.select(d.c.seq)
        .select_from(d.join(e, e.c.id == d.c.endpoint_id))
        .where(_due(now), live)
        .order_by(d.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=d, skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED")  # evaluated once, as in the sweep
    )
    stmt = (
        d.update()
        .where(d.c.seq.in_(sa.select(picked.c.seq)), _due(now))
        .values(attempts=d.c.attempts + 1, next_attempt_at=now + lease_ms, last_attempt_at=now)
        .returning(d.c.seq, d.c.id, d.c.endpoint_id, d.c.attempts, d.c.payload)
    )
    rows = conn.execute(stmt).all()
    if not rows:
        return []
    endpoints = {
        row.id: row
        for row in conn.execute(
            sa.select(
                e.c.id, e.c.url, e.c.secret, e.c.previous_secret, e.c.previous_secret_expires_at
            ).where(e.c.id.in_(sorted({row.endpoint_id for row in rows})))
        )
    }
    claimed = []
    for row in sorted(rows, key=lambda r: r.seq):
        endpoint = endpoints[row.endpoint_id]
        claimed.append(
            Claimed(
                seq=row.seq,
                id=row.id,
                endpoint_id=row.endpoint_id,
                attempts=row.attempts,
                payload=row.payload,
                url=endpoint.url,
                secret=endpoint.secret,
                previous_secret=endpoint.previous_secret,
                previous_secret_expires_at=endpoint.previous_secret_expires_at,
            )
        )
    return claimed


def record_outcomes(conn: Connection, outcomes: Sequence[Outcome]) -> int:
    """Record each attempt's outcome (if its claim still holds); disable endpoints that
    answered 410. Returns how many were recorded."""
    recorded = 0
    for outcome in sorted(outcomes, key=lambda o: o.claimed.seq):
        claimed, decision = outcome.claimed, outcome.decision
        delivered = decision.status is DeliveryStatus.DELIVERED
        stmt = (
            d.update()
            .where(
                d.c.seq == claimed.seq,
                d.c.attempts == claimed.attempts,
                d.c.status == PENDING,
            )
            .values(
                status=decision.status.value,
                next_attempt_at=decision.next_attempt_at,
                last_status_code=outcome.attempt.status_code,
                last_error=outcome.attempt.error,
                delivered_at=outcome.at if delivered else None,
            )
        )
        recorded += conn.execute(stmt).rowcount
        if decision.disable_endpoint:
            conn.execute(
                e.update()
                .where(e.c.id == claimed.endpoint_id, e.c.status == ENABLED)
                .values(
                    status=DISABLED,
                    disabled_reason="the endpoint answered 410 Gone",
                    updated_at=outcome.at,
                )
            )
    return recorded


def prune(conn: Connection, older_than: int, *, limit: int) -> int:
    """Remove up to ``limit`` deliveries that are done with, then deleted endpoints left
    without any. Done with: created before ``older_than`` and finished (or stuck pending at
    a disabled endpoint), or of a deleted endpoint."""
    deleted = sa.select(e.c.id).where(e.c.deleted_at.is_not(None))
    disabled = sa.select(e.c.id).where(e.c.status == DISABLED)
    old = sa.and_(
        d.c.created_at < older_than,
        sa.or_(d.c.status != PENDING, d.c.endpoint_id.in_(disabled)),
    )
    doomed = (
        sa.select(d.c.seq)
        .where(sa.or_(old, d.c.endpoint_id.in_(deleted)))
        .order_by(d.c.seq)
        .limit(limit)
    )
    removed = int(conn.execute(d.delete().where(d.c.seq.in_(doomed))).rowcount)
    if removed < limit:
        still_used = sa.select(d.c.seq).where(d.c.endpoint_id == e.c.id).exists()
        conn.execute(e.delete().where(e.c.deleted_at.is_not(None), ~still_used))
    return removed
