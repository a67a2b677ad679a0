"""how each day's sessions ended (the data-quality sums and the duration histogram) and each
day's distinct users over all kinds, kept with the daily rollups

Revision ID: rollups_0002
Revises: 0007
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision = "rollups_0002"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollups_ends",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("end_reason", sa.String(length=16), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("estimated_ms", sa.BigInteger(), nullable=False),
        sa.Column("bound_width_ms", sa.BigInteger(), nullable=False),
        sa.Column("amended", sa.Integer(), nullable=False),
        sa.Column("continuations", sa.Integer(), nullable=False),
        sa.Column("duration_buckets", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_rollups_ends_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "day", "kind", "source", "end_reason", name=op.f("pk_rollups_ends")
        ),
    )
    op.create_table(
        "rollups_days",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_rollups_days_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "day", name=op.f("pk_rollups_days")),
    )
    # Days rolled up before hold none of the new sums: mark their sessions part (and the day
    # after each, where a session that ended at midnight is counted) for the refresh job.
    # Until it has run, those days are read from the sessions, so answers stay exact.
    conn = op.get_bind()
    found = conn.execute(sa.text("SELECT DISTINCT tenant_id, day FROM rollups_daily")).all()
    marked = conn.execute(
        sa.text("SELECT tenant_id, day FROM rollup_dirty WHERE part = 'sessions'")
    ).all()
    already = {(tenant_id, _day(day)) for tenant_id, day in marked}
    wanted = {
        (tenant_id, day)
        for tenant_id, first in found
        for day in (_day(first), _day(first) + timedelta(days=1))
    }
    rows = [{"tenant_id": tenant_id, "day": day} for tenant_id, day in sorted(wanted - already)]
    if rows:
        dirty = sa.table(
            "rollup_dirty",
            sa.column("tenant_id", sa.Integer()),
            sa.column("day", sa.Date()),
            sa.column("part", sa.String()),
            sa.column("version", sa.Integer()),
        )
        op.bulk_insert(dirty, [{**row, "part": "sessions", "version": 1} for row in rows])


def _day(value: object) -> date:
    """A DATE as the driver returns it (SQLite gives text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def downgrade() -> None:
    op.drop_table("rollups_days")
    op.drop_table("rollups_ends")
