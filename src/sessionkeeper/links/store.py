"""SQL for links, clicks, tracker tokens and publishable keys' origins. Functions run in the
transaction or connection they are given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.principal import Principal
from sessionkeeper.links.rules import Counters
from sessionkeeper.links.tables import link_clicks as c
from sessionkeeper.links.tables import links as lk
from sessionkeeper.links.tables import publishable_origins as po
from sessionkeeper.links.tables import tracker_tokens as tt
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.tables import sessions as s
from sessionkeeper.storage.tables import tenants


@dataclass(frozen=True, slots=True)
class Link:
    id: str
    tenant_id: int
    target_url: str
    kind: str
    user_id: str | None
    subject: dict[str, str]
    attributes: dict[str, Any]
    mode: str
    reusable: bool
    expires_at: int | None
    clicks: int
    last_click_at: int | None
    created_at: int
    deleted_at: int | None


@dataclass(frozen=True, slots=True)
class Click:
    session_id: str
    clicked_at: int
    user_agent: str


@dataclass(frozen=True, slots=True)
class Tracker:
    """A browser session's token row: which session, from where, and its totals."""

    tenant_id: int
    tenant_name: str
    session_id: str
    origin: str | None
    mode: str
    created_at: int
    reported_at: int
    report_made_at: int
    counters: Counters
    hidden: bool
    closing_at: int | None = None


def _link(row: RowMapping) -> Link:
    return Link(
        id=row["id"],
        tenant_id=row["tenant_id"],
        target_url=row["target_url"],
        kind=row["kind"],
        user_id=row["user_id"],
        subject=dict(row["subject"] or {}),
        attributes=dict(row["attributes"]),
        mode=row["mode"],
        reusable=row["reusable"],
        expires_at=row["expires_at"],
        clicks=row["clicks"],
        last_click_at=row["last_click_at"],
        created_at=row["created_at"],
        deleted_at=row["deleted_at"],
    )


_LINK_COLUMNS = [col for col in lk.c if col.name != "token_hash"]

# --- links ---------------------------------------------------------------------------------


def insert_link(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(lk.insert().values(**values))


def get_link(conn: Connection, principal: Principal, link_id: str) -> Link | None:
    stmt = sa.select(*_LINK_COLUMNS).where(visible_to(lk, principal), lk.c.id == link_id)
    row = conn.execute(stmt).mappings().first()
    return None if row is None else _link(row)


def list_links(
    conn: Connection,
    principal: Principal,
    *,
    kind: str | None,
    user_id: str | None,
    subject: dict[str, str],
    include_deleted: bool,
    before: tuple[int, str] | None,
    limit: int,
) -> list[Link]:
    """Newest first; ``before`` is the (created_at, id) of the previous page's last link."""
    conditions = [visible_to(lk, principal)]
    if kind is not None:
        conditions.append(lk.c.kind == kind)
    if user_id is not None:
        conditions.append(lk.c.user_id == user_id)
    for name, value in subject.items():
        conditions.append(lk.c.subject[name].as_string() == value)
    if not include_deleted:
        conditions.append(lk.c.deleted_at.is_(None))
    if before is not None:
        conditions.append(sa.tuple_(lk.c.created_at, lk.c.id) < sa.tuple_(*before))
    stmt = (
        sa.select(*_LINK_COLUMNS)
        .where(*conditions)
        .order_by(lk.c.created_at.desc(), lk.c.id.desc())
        .limit(limit)
    )
    return [_link(row) for row in conn.execute(stmt).mappings()]


def delete_link(conn: Connection, principal: Principal, link_id: str, now: int) -> bool:
    stmt = (
        lk.update()
        .where(visible_to(lk, principal), lk.c.id == link_id, lk.c.deleted_at.is_(None))
        .values(deleted_at=now)
    )
    return conn.execute(stmt).rowcount > 0


def link_by_token(conn: Connection, token_hash: str) -> tuple[Link, str] | None:
    """The link with this token and its tenant's name."""
    stmt = (
        sa.select(*_LINK_COLUMNS, tenants.c.name.label("tenant_name"))
        .join(tenants, tenants.c.id == lk.c.tenant_id)
        .where(lk.c.token_hash == token_hash)
    )
    row = conn.execute(stmt).mappings().first()
    return None if row is None else (_link(row), row["tenant_name"])


def claim_click(conn: Connection, link_id: str, now: int) -> bool:
    """Count a click that starts a session, if the link still takes one: live, not expired,
    and reusable or never clicked. One conditional UPDATE, so two first clicks on a
    single-use link cannot both win."""
    stmt = (
        lk.update()
        .where(
            lk.c.id == link_id,
            lk.c.deleted_at.is_(None),
            sa.or_(lk.c.expires_at.is_(None), lk.c.expires_at > now),
            sa.or_(lk.c.reusable, lk.c.clicks == 0),
        )
        .values(clicks=lk.c.clicks + 1, last_click_at=now)
    )
    return conn.execute(stmt).rowcount > 0


def insert_click(conn: Connection, values: dict[str, Any]) -> None:
    # The values as parameters of one statement, not a statement built around them: its
    # cache key is then the same every time (building it was a tenth of a click's writing).
    conn.execute(c.insert(), values)


def clicks_of(conn: Connection, principal: Principal, link_id: str, limit: int) -> list[Click]:
    """The link's newest clicks, newest first."""
    stmt = (
        sa.select(c.c.session_id, c.c.clicked_at, c.c.user_agent)
        .where(visible_to(c, principal), c.c.link_id == link_id)
        .order_by(c.c.seq.desc())
        .limit(limit)
    )
    return [Click(r.session_id, r.clicked_at, r.user_agent) for r in conn.execute(stmt)]


# --- tracker tokens ------------------------------------------------------------------------


def insert_tracker(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(tt.insert(), values)  # as ``insert_click``


def tracker_by_token(conn: Connection, token_hash: str) -> Tracker | None:
    stmt = (
        sa.select(tt, tenants.c.name.label("tenant_name"))
        .join(tenants, tenants.c.id == tt.c.tenant_id)
        .where(tt.c.token_hash == token_hash)
    )
    row = conn.execute(stmt).mappings().first()
    if row is None:
        return None
    return Tracker(
        tenant_id=row["tenant_id"],
        tenant_name=row["tenant_name"],
        session_id=row["session_id"],
        origin=row["origin"],
        mode=row["mode"],
        created_at=row["created_at"],
        reported_at=row["reported_at"],
        report_made_at=row["report_made_at"],
        counters=Counters(row["engaged_ms"], row["visible_ms"], row["wall_ms"], row["seq"]),
        hidden=row["hidden"],
        closing_at=row["closing_at"],
    )


def save_counters(
    conn: Connection, token_hash: str, counters: Counters, *, hidden: bool, now: int, at: int
) -> None:
    conn.execute(
        tt.update()
        .where(tt.c.token_hash == token_hash)
        .values(
            engaged_ms=counters.engaged_ms,
            visible_ms=counters.visible_ms,
            wall_ms=counters.wall_ms,
            seq=counters.seq,
            hidden=hidden,
            reported_at=now,
            # Never back: a late report keeps the newest time seen.
            report_made_at=sa.case(
                (tt.c.report_made_at > at, tt.c.report_made_at), else_=sa.literal(at, sa.BigInteger)
            ),
        )
    )


def set_closing(conn: Connection, token_hash: str, at: int | None) -> None:
    """Note a companion page's close at ``at``; None: a beat since says it is open."""
    stmt = tt.update().where(tt.c.token_hash == token_hash)
    if at is None:
        conn.execute(stmt.values(closing_at=None))
    else:
        conn.execute(stmt.values(closing_at=sa.func.coalesce(tt.c.closing_at, at)))


def reopen(conn: Connection, token_hash: str, at: int) -> None:
    """A beat made after the close: the page was reloaded, not closed."""
    conn.execute(
        tt.update()
        .where(tt.c.token_hash == token_hash, tt.c.closing_at <= at)
        .values(closing_at=None)
    )


def due_closes(conn: Connection, before: int, limit: int) -> list[tuple[str, int, str, int]]:
    """(token hash, tenant id, session id, closed at) of companion pages closed before
    ``before`` and not reopened since, oldest first."""
    stmt = (
        sa.select(tt.c.token_hash, tt.c.tenant_id, tt.c.session_id, tt.c.closing_at)
        .where(tt.c.closing_at.is_not(None), tt.c.closing_at <= before)
        .order_by(tt.c.closing_at)
        .limit(limit)
    )
    return [(r.token_hash, r.tenant_id, r.session_id, r.closing_at) for r in conn.execute(stmt)]


def set_beat_timeout(
    conn: Connection, principal: Principal, session_id: str, *, at: int, timeout_ms: int
) -> None:
    """The timeout the next beat extends by (a hidden page's or the policy's): the session's
    own ``timeout_ms``, which the lifecycle rules and the heartbeat SQL both read. Only for a
    beat newer than the last one, so a late report of an older state changes nothing."""
    conn.execute(
        s.update()
        .where(
            visible_to(s, principal),
            s.c.id == session_id,
            s.c.status.in_([Status.ACTIVE.value, Status.TIMED_OUT.value]),
            s.c.last_seen_at < at,
        )
        .values(timeout_ms=timeout_ms)
    )


# --- publishable keys ----------------------------------------------------------------------


def insert_origins(conn: Connection, tenant_id: int, key_id: int, origins: Sequence[str]) -> None:
    rows = [{"key_id": key_id, "origin": o, "tenant_id": tenant_id} for o in origins]
    if rows:
        conn.execute(po.insert(), rows)


def origins_of(conn: Connection, principal: Principal) -> dict[int, list[str]]:
    """The allowed origins of each of the tenant's publishable keys."""
    stmt = (
        sa.select(po.c.key_id, po.c.origin)
        .where(visible_to(po, principal))
        .order_by(po.c.key_id, po.c.origin)
    )
    found: dict[int, list[str]] = {}
    for row in conn.execute(stmt):
        found.setdefault(row.key_id, []).append(row.origin)
    return found


def key_allows(conn: Connection, key_id: int, origin: str) -> bool:
    stmt = sa.select(po.c.key_id).where(po.c.key_id == key_id, po.c.origin == origin)
    return conn.execute(stmt).first() is not None
