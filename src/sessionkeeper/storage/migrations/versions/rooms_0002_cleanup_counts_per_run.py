"""the rooms' cleanup counts keep two runs: the last, and the one tenants see until then

Revision ID: rooms_0002
Revises: 0015

Tenants see a server cleanup run only from its ``job_runs.shown_from`` and the run before
until then (``domain/job_runs.py``), each with its counts: a tenant's counts are kept per
run, no longer one row per tenant.
"""

from __future__ import annotations

from alembic import op

revision = "rooms_0002"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("room_cleanup_counts") as batch:
        batch.drop_constraint("pk_room_cleanup_counts", type_="primary")
        batch.create_primary_key("pk_room_cleanup_counts", ["tenant_id", "run_started_at"])


def downgrade() -> None:
    op.execute(
        "DELETE FROM room_cleanup_counts WHERE run_started_at <"
        " (SELECT MAX(run_started_at) FROM room_cleanup_counts)"
    )
    with op.batch_alter_table("room_cleanup_counts") as batch:
        batch.drop_constraint("pk_room_cleanup_counts", type_="primary")
        batch.create_primary_key("pk_room_cleanup_counts", ["tenant_id"])
