"""Row-level scoping: which rows of a table a principal may read or change.

Every query on tenant data goes through :func:`visible_to`: the tenant always, and the user
when the principal is one user's (an end-user token). One mechanism, so no endpoint can forget
a check of its own.

The server-wide operator (the operator key naming no tenant) sees every tenant's rows. The
API hands that principal only to the endpoints that declare they take it (``api/deps.py``),
all of which read or act on the whole server by design.
"""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.domain.principal import Principal


def visible_to(table: sa.Table, principal: Principal) -> sa.ColumnElement[bool]:
    if principal.server_wide:
        return sa.true()
    condition = table.c.tenant_id == principal.tenant_id
    if principal.user_id is not None:
        if "user_id" not in table.c:
            # A table with no owner column holds nothing that belongs to one user.
            return sa.false()
        condition = sa.and_(condition, table.c.user_id == principal.user_id)
    return condition
