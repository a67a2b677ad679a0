"""an index of the sessions of presence sources that timed out, by end

Revision ID: 0014
Revises: 0013

A presence snapshot made in time but delivered after the sweep closed some of its source's
sessions is late evidence about them (``services/presence.py``): it reads the source's
timed-out sessions still alive at its time, through this partial index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

NAME = "ix_sessions_timed_out_source"
WHERE = sa.text("status = 'timed_out' AND source IS NOT NULL")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Over millions of sessions the build may outlast the statement deadline.
        op.execute("SET LOCAL statement_timeout = 0")
    op.create_index(
        NAME,
        "sessions",
        ["tenant_id", "source", "ended_at"],
        sqlite_where=WHERE,
        postgresql_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="sessions")
