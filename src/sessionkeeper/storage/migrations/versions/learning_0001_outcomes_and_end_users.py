"""learning: session outcomes, metric definitions, end-user token and recap settings

Revision ID: learning_0001
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "learning_0001"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_outcomes",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("counters", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_session_outcomes_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "session_id", name=op.f("pk_session_outcomes")),
    )
    op.create_index(
        "ix_session_outcomes_tenant_id_user_id",
        "session_outcomes",
        ["tenant_id", "user_id"],
        unique=False,
    )
    op.create_table(
        "metric_definitions",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("higher_is_better", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_metric_definitions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "name", name=op.f("pk_metric_definitions")),
    )
    op.create_table(
        "learning_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("auth", sa.JSON(), nullable=True),
        sa.Column("issuer", sa.String(length=512), nullable=True),
        sa.Column("recap", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_learning_settings_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_learning_settings")),
    )
    op.create_index(
        op.f("ix_learning_settings_issuer"), "learning_settings", ["issuer"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_learning_settings_issuer"), table_name="learning_settings")
    op.drop_table("learning_settings")
    op.drop_table("metric_definitions")
    op.drop_index("ix_session_outcomes_tenant_id_user_id", table_name="session_outcomes")
    op.drop_table("session_outcomes")
