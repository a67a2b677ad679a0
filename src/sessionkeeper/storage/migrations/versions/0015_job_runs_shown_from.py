"""when tenants may see a server job's run, and the run they see until then

Revision ID: 0015
Revises: dashboard_0002

A server job's run is recorded when it ends, and its length grows with every tenant's data:
a tenant's view that changed at that moment would time it. Tenants now see such a run only
from ``shown_from`` (``domain/job_runs.py``) and the run before until then. Runs recorded
before keep both null: seen at once, as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "dashboard_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.add_column(sa.Column("shown_from", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("shown_before", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_column("shown_before")
        batch.drop_column("shown_from")
