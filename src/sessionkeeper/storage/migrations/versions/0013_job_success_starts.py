"""when a job's last successful run started: a tenant sees server jobs as of their starts

Revision ID: 0013
Revises: 0012

A server job's length grows with every tenant's data, so a tenant is shown its runs as of
their starts (``storage/jobs.JobRun.seen_by``), the last success too. Where the last run
succeeded, its start is that success's; otherwise it is unknown until the next success.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.add_column(sa.Column("last_success_started_at", sa.BigInteger, nullable=True))
    op.execute("UPDATE job_runs SET last_success_started_at = started_at WHERE error IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_column("last_success_started_at")
