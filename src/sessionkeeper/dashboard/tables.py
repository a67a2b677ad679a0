"""The dashboard's logins that were logged out before they expired.

A login is a signed cookie, checked without any row of its own; logging out deletes the
browser's copy, and this table refuses any other copy (one taken from the browser, a proxy's
log) until the login would have expired anyway.
"""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.storage.tables import metadata

dashboard_logouts = sa.Table(
    "dashboard_logouts",
    metadata,
    # The login's nonce: one per login, carried on when the operator switches tenants.
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
)
