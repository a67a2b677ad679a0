"""a presence snapshot is one heartbeat of its source, kept on the source row

Revision ID: 0008
Revises: dashboard_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "dashboard_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: no snapshot since the upgrade; the sessions' own columns hold every beat so far.
    with op.batch_alter_table("presence_sources") as batch:
        batch.add_column(sa.Column("beat_at", sa.BigInteger(), nullable=True))


BEAT = """(SELECT p.beat_at FROM presence_sources p
            WHERE p.tenant_id = sessions.tenant_id AND p.source = sessions.source)"""


def downgrade() -> None:
    # The beat would be lost with the column: write it into the sessions it covers first
    # (the heartbeat rule: a timeout after it, never before a held deadline).
    op.execute(
        f"""
        UPDATE sessions SET
            last_seen_at = {BEAT},
            expires_at = CASE WHEN COALESCE(held_until, 0) > {BEAT} + timeout_ms
                              THEN held_until ELSE {BEAT} + timeout_ms END
        WHERE status = 'active' AND source IS NOT NULL AND last_seen_at < {BEAT}
        """
    )
    with op.batch_alter_table("presence_sources") as batch:
        batch.drop_column("beat_at")
