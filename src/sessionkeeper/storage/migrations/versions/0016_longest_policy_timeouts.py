"""the longest timeout each policy has had

Revision ID: 0016
Revises: rooms_0002

A session keeps the timeout of its last beat, so one the sweep closed may have expired under
a longer timeout than its kind's policy has now. A late presence snapshot looks for the swept
sessions it was alive with that far back. The rows start from their current timeout, or the
longest a deadline of the tenant's sessions was set after its last beat, whichever is longer.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "rooms_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policies") as batch:
        batch.add_column(
            sa.Column("longest_timeout_ms", sa.BigInteger, nullable=False, server_default="0")
        )
    # A session's deadline is the timeout of its last beat after it (``timeout_ms`` itself
    # follows a policy change at once, the deadline only from the next beat).
    op.execute(
        "UPDATE policies SET longest_timeout_ms = COALESCE((SELECT MAX(s.expires_at -"
        " s.last_seen_at) FROM sessions s WHERE s.tenant_id = policies.tenant_id), 0)"
    )
    op.execute(
        "UPDATE policies SET longest_timeout_ms = timeout_ms WHERE timeout_ms > longest_timeout_ms"
    )


def downgrade() -> None:
    with op.batch_alter_table("policies") as batch:
        batch.drop_column("longest_timeout_ms")
