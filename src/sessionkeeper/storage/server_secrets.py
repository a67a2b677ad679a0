"""Secrets the server made for itself (see ``tables.server_secrets``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from sessionkeeper.domain.public_ids import PublicIds
from sessionkeeper.storage.tables import server_secrets

PUBLIC_IDS = "public_ids"


def public_ids(conn: Connection) -> PublicIds:
    """The server's permutation of row ids, made by migration 0012."""
    value = conn.execute(
        sa.select(server_secrets.c.value).where(server_secrets.c.name == PUBLIC_IDS)
    ).scalar_one()
    return PublicIds.of(bytes.fromhex(value))
