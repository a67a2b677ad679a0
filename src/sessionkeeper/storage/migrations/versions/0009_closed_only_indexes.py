"""the indexes of ends and durations hold closed sessions only

Revision ID: 0009
Revises: 0008

Every query that reads them asks for closed sessions (an end in a range, a listing ordered by
end or duration), while every start added an entry for its NULL end and every close moved
it. Those NULL entries sit in row order, so a sweep closing 10,000 sessions among 1,000,000
rewrote about one index page per session.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CLOSED = "ended_at IS NOT NULL"
ENDED_COLUMNS = ["tenant_id", "ended_at", "started_at", "kind"]
# As ``storage.tables.DURATION`` writes it, so that the planner matches them.
DURATION = sa.text("(ended_at - started_at)")


def upgrade() -> None:
    where = sa.text(CLOSED)
    op.drop_index("ix_sessions_tenant_ended", table_name="sessions")
    op.create_index(
        "ix_sessions_tenant_ended",
        "sessions",
        ENDED_COLUMNS,
        sqlite_where=where,
        postgresql_where=where,
    )
    op.drop_index("ix_sessions_tenant_duration", table_name="sessions")
    op.create_index(
        "ix_sessions_tenant_duration",
        "sessions",
        ["tenant_id", DURATION],
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_tenant_ended", table_name="sessions")
    op.create_index("ix_sessions_tenant_ended", "sessions", ENDED_COLUMNS)
    op.drop_index("ix_sessions_tenant_duration", table_name="sessions")
    op.create_index("ix_sessions_tenant_duration", "sessions", ["tenant_id", DURATION])
