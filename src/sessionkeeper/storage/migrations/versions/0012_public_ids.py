"""the server's key of public ids: ids of keys, tenants and audit entries that count nothing

Revision ID: 0012
Revises: 0011

Keys, tenants and audit entries are numbered by one sequence across tenants, so the ids the
API showed counted other tenants' rows. From this revision on the API shows each such id
through a keyed permutation (``domain/public_ids.py``) whose key is made here, once per
server, and kept in the database so every process and every restored backup shows the same
ids. Ids shown before this revision change once, here.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration stays what it was when it ran.
PUBLIC_IDS = "public_ids"
KEY_BYTES = 32


def upgrade() -> None:
    table = op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_secrets")),
    )
    op.bulk_insert(table, [{"name": PUBLIC_IDS, "value": secrets.token_hex(KEY_BYTES)}])


def downgrade() -> None:
    op.drop_table("server_secrets")
