"""the sweep's own index column, so that most heartbeats rewrite no index

Revision ID: 0007
Revises: links_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "links_0001"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("sweep_at", sa.BigInteger(), nullable=True))
    op.execute("UPDATE sessions SET sweep_at = expires_at")
    with op.batch_alter_table("sessions") as batch:
        batch.alter_column("sweep_at", existing_type=sa.BigInteger(), nullable=False)
        batch.drop_index("ix_sessions_active_expires")
        batch.create_index(
            "ix_sessions_active_sweep",
            ["sweep_at"],
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )
    # The live counts' index of active sessions holds sweep_at instead of the deadline.
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index("ix_sessions_active_tenant_kind")
        batch.create_index(
            "ix_sessions_active_tenant_kind",
            ["tenant_id", "kind", "user_id", "sweep_at", "started_at"],
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )
    if op.get_context().dialect.name == "postgresql":
        # Room on each page for the new version of a row a heartbeat updates: an update
        # that changes no indexed column then stays on its page (HOT) and writes no index.
        op.execute("ALTER TABLE sessions SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE sessions RESET (fillfactor)")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index("ix_sessions_active_tenant_kind")
        batch.create_index(
            "ix_sessions_active_tenant_kind",
            ["tenant_id", "kind", "user_id", "expires_at", "started_at"],
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )
        batch.drop_index("ix_sessions_active_sweep")
        batch.create_index(
            "ix_sessions_active_expires",
            ["expires_at"],
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )
        batch.drop_column("sweep_at")
