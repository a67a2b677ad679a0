"""the estimated part and the bounds of rollup durations

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = ("duration_estimated_ms", "duration_low_ms", "duration_high_ms")


def upgrade() -> None:
    with op.batch_alter_table("rollups_daily") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
    # Rows computed before: their totals as both bounds, until the next refresh of their day
    # (or `sessionkeeper rollup --rebuild`) computes the real ones.
    op.execute(
        "UPDATE rollups_daily SET duration_low_ms = duration_total_ms, "
        "duration_high_ms = duration_total_ms"
    )


def downgrade() -> None:
    with op.batch_alter_table("rollups_daily") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
