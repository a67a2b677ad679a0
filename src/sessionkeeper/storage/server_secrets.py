"""Secrets the server made for itself (see ``tables.server_secrets``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from sessionkeeper.domain.public_ids import PublicIds
from sessionkeeper.errors import StorageUnavailable
from sessionkeeper.storage.tables import server_secrets

PUBLIC_IDS = "public_ids"


def public_ids(conn: Connection) -> PublicIds:
    """The server's permutation of row ids, made by migration 0012.

    Without its key no id of a key, tenant or audit entry can be shown or read: a 503 (and an
    error at the command line), never a new key, which would change every id silently."""
    value = conn.execute(
        sa.select(server_secrets.c.value).where(server_secrets.c.name == PUBLIC_IDS)
    ).scalar_one_or_none()
    if value is None:
        raise StorageUnavailable(
            "the database has lost the key of its public ids (table server_secrets, "
            "row 'public_ids'): restore that table from a backup of this database"
        )
    return PublicIds.of(bytes.fromhex(value))
