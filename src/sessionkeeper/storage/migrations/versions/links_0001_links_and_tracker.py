"""tracking links, clicks, tracker tokens, publishable keys' origins; hidden timeout

Revision ID: links_0001
Revises: learning_0001
Create Date: 2026-11-30 06:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "links_0001"
down_revision = "learning_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hidden_timeout_ms", sa.BigInteger(), server_default="900000", nullable=False)
        )

    op.create_table(
        "links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("target_url", sa.String(length=2048), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("subject", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("reusable", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("clicks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_click_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_links_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_links_token_hash")),
    )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index("ix_links_tenant_created", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "link_clicks",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("clicked_at", sa.BigInteger(), nullable=False),
        sa.Column("user_agent", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_link_clicks_link_id_links")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_link_clicks_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_link_clicks")),
    )
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.create_index("ix_link_clicks_link_seq", ["link_id", "seq"], unique=False)

    op.create_table(
        "tracker_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=256), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", sa.BigInteger(), nullable=False),
        sa.Column("report_made_at", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("engaged_ms", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("visible_ms", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("wall_ms", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("hidden", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("closing_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tracker_tokens_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_tracker_tokens")),
    )
    with op.batch_alter_table("tracker_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tracker_tokens_tenant_session", ["tenant_id", "session_id"], unique=False
        )
        batch_op.create_index(
            "ix_tracker_tokens_closing",
            ["closing_at"],
            unique=False,
            sqlite_where=sa.text("closing_at IS NOT NULL"),
            postgresql_where=sa.text("closing_at IS NOT NULL"),
        )

    op.create_table(
        "publishable_origins",
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=256), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_publishable_origins_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_publishable_origins_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("key_id", "origin", name=op.f("pk_publishable_origins")),
    )
    with op.batch_alter_table("publishable_origins", schema=None) as batch_op:
        batch_op.create_index("ix_publishable_origins_origin", ["origin"], unique=False)


def downgrade() -> None:
    op.drop_table("publishable_origins")
    op.drop_table("tracker_tokens")
    op.drop_table("link_clicks")
    op.drop_table("links")
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.drop_column("hidden_timeout_ms")
