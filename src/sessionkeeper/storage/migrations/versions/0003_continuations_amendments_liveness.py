"""continuations, amendments, server liveness

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("continues", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("amended_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("amended_at", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_sessions_tenant_continues",
        "sessions",
        ["tenant_id", "continues"],
        unique=False,
        sqlite_where=sa.text("continues IS NOT NULL"),
        postgresql_where=sa.text("continues IS NOT NULL"),
    )
    op.create_table(
        "server_liveness",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("alive_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_liveness")),
    )


def downgrade() -> None:
    op.drop_table("server_liveness")
    op.drop_index("ix_sessions_tenant_continues", table_name="sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("amended_at")
        batch.drop_column("amended_count")
        batch.drop_column("continues")
