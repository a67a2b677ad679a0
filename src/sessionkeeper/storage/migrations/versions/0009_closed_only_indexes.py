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
ENDED_COLUMNS: list[str | sa.TextClause] = ["tenant_id", "ended_at", "started_at", "kind"]
# As ``storage.tables.DURATION`` writes it, so that the planner matches them.
DURATION = sa.text("(ended_at - started_at)")


def upgrade() -> None:
    _rebuild("ix_sessions_tenant_ended", ENDED_COLUMNS)
    _rebuild("ix_sessions_tenant_duration", ["tenant_id", DURATION])


def _rebuild(name: str, columns: list[str | sa.TextClause]) -> None:
    """Replace index ``name`` by its closed-only form."""
    where = sa.text(CLOSED)
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(name, table_name="sessions")
        op.create_index(name, "sessions", columns, sqlite_where=where)
        return
    # Over millions of sessions the build may outlast the connection's statement deadline;
    # and built before the old one is dropped, reads of sessions go on while it is built.
    op.execute("SET LOCAL statement_timeout = 0")
    op.create_index(f"{name}_closed", "sessions", columns, postgresql_where=where)
    op.drop_index(name, table_name="sessions")
    op.execute(f"ALTER INDEX {name}_closed RENAME TO {name}")


def downgrade() -> None:
    op.drop_index("ix_sessions_tenant_ended", table_name="sessions")
    op.create_index("ix_sessions_tenant_ended", "sessions", ENDED_COLUMNS)
    op.drop_index("ix_sessions_tenant_duration", table_name="sessions")
    op.create_index("ix_sessions_tenant_duration", "sessions", ["tenant_id", DURATION])
