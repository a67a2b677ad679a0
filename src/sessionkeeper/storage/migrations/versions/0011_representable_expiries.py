"""expiry times of links and invitations brought within the years 1 to 9999 in UTC

Revision ID: 0011
Revises: 0010

Before client times were bounded (``api/fields.py``, ``ClientTime``), an ``expires_at`` such as
``9999-12-31T23:00:00-01:00`` was stored as a millisecond of the year 10000, which no answer
can spell: every listing that held it failed. Such a time is moved to the last representable
millisecond, which is as far from now in effect.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration stays what it was when it ran.
MIN_MS = -62135596800000  # 0001-01-01T00:00:00Z
MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def upgrade() -> None:
    for table in ("links", "room_invites"):
        expires_at = sa.column("expires_at", sa.BigInteger)
        rows = sa.table(table, expires_at)
        op.execute(rows.update().where(expires_at > MAX_MS).values(expires_at=MAX_MS))
        op.execute(rows.update().where(expires_at < MIN_MS).values(expires_at=MIN_MS))


def downgrade() -> None:
    """Leaves the moved expiries where they are: the times they had could not be spelled in
    any answer, so going back to them would only break the listings again."""
