"""Per-tenant settings. A tenant without a row has every default."""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.storage.tables import metadata

tenant_settings = sa.Table(
    "tenant_settings",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    # An IANA name; the local days of rollups and history are days of this zone.
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
