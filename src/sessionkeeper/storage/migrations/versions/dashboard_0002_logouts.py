"""the dashboard's logins logged out before they expired

Revision ID: dashboard_0002
Revises: 0014

A login is a signed cookie; logging out deleted only the browser's copy, and any other copy
kept working until the login expired (12 h by default). Logging out now records the login
here, and every request of it is refused.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "dashboard_0002"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_logouts",
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_dashboard_logouts")),
    )


def downgrade() -> None:
    op.drop_table("dashboard_logouts")
