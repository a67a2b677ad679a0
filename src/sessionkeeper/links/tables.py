"""Tracking links, their clicks, the browser tracker's per-session tokens and counters, and
the origins each publishable key may be used from.

Every secret (a link's token, a tracker token) is stored as its SHA-256 digest only: it is
shown once, in the answer that made it.
"""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.storage.tables import BigIntId, metadata

links = sa.Table(
    "links",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("target_url", sa.String(2048), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(256), nullable=True),
    sa.Column("subject", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("reusable", sa.Boolean, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=True),
    sa.Column("clicks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_click_at", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # A deleted link's url answers 410; the row stays so its clicks keep their link.
    sa.Column("deleted_at", sa.BigInteger, nullable=True),
    sa.Index("ix_links_tenant_created", "tenant_id", "created_at"),
)

link_clicks = sa.Table(
    "link_clicks",
    metadata,
    sa.Column("seq", BigIntId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("link_id", sa.String(32), sa.ForeignKey("links.id"), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=False),
    sa.Column("clicked_at", sa.BigInteger, nullable=False),
    sa.Column("user_agent", sa.String(16), nullable=False),
    sa.Index("ix_link_clicks_link_seq", "link_id", "seq"),
)

# One per browser session: the token the page beats and ends it with, and the running totals
# the tracker reported (kept here, merged into the session's attributes on each report).
tracker_tokens = sa.Table(
    "tracker_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=False),
    # The page's origin for a publishable key's session: beats from elsewhere are refused.
    sa.Column("origin", sa.String(256), nullable=True),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # Server time of the last report that counted, and the time it was made (its ``at``):
    # the next increase is capped by the time passed since, by either clock, so reports kept
    # while offline and delivered together each keep the time between them.
    sa.Column("reported_at", sa.BigInteger, nullable=False),
    sa.Column("report_made_at", sa.BigInteger, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("engaged_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("visible_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("wall_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
    # A companion page was closed at this time (its pagehide), unless a reload of it beats
    # within the close window; then the job ends the session exactly here.
    sa.Column("closing_at", sa.BigInteger, nullable=True),
    sa.Index("ix_tracker_tokens_tenant_session", "tenant_id", "session_id"),
    sa.Index(
        "ix_tracker_tokens_closing",
        "closing_at",
        sqlite_where=sa.text("closing_at IS NOT NULL"),
        postgresql_where=sa.text("closing_at IS NOT NULL"),
    ),
)

publishable_origins = sa.Table(
    "publishable_origins",
    metadata,
    sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id"), primary_key=True),
    sa.Column("origin", sa.String(256), primary_key=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
    # The keys that allow a page, by its origin.
    sa.Index("ix_publishable_origins_origin", "origin"),
)
