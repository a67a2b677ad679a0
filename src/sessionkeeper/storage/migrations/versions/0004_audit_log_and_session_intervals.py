"""audit log, the heartbeat interval of each session's policy

Revision ID: 0004
Revises: ops_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "ops_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_tenant_id", "audit_log", ["tenant_id", "id"], unique=False)
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("heartbeat_interval_ms", sa.BigInteger(), nullable=False, server_default="0")
        )
    # Sessions stored before the interval was kept: the default relation of a policy, a
    # timeout of five intervals.
    op.execute("UPDATE sessions SET heartbeat_interval_ms = timeout_ms / 5")


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("heartbeat_interval_ms")
    op.drop_index("ix_audit_log_tenant_id", table_name="audit_log")
    op.drop_table("audit_log")
