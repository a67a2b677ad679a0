"""closed sessions by duration, for the dashboard's listing ordered by it; the index of ends
holds the start and the kind, for the dashboard's hours chart

Revision ID: dashboard_0001
Revises: rollups_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "dashboard_0001"
down_revision = "rollups_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The expression as ``storage.tables.DURATION`` writes it, so the planner matches them.
    op.create_index(
        "ix_sessions_tenant_duration",
        "sessions",
        ["tenant_id", sa.text("(ended_at - started_at)")],
    )
    op.drop_index("ix_sessions_tenant_ended", table_name="sessions")
    op.create_index(
        "ix_sessions_tenant_ended", "sessions", ["tenant_id", "ended_at", "started_at", "kind"]
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_tenant_ended", table_name="sessions")
    op.create_index("ix_sessions_tenant_ended", "sessions", ["tenant_id", "ended_at"])
    op.drop_index("ix_sessions_tenant_duration", table_name="sessions")
