"""Row ids as clients see them (``domain/public_ids.py``): in answers, in paths, in cursors.

A cursor over keys or tenants is the public id of the page's last row, in decimal; any number
of the right shape is taken (it stands for some position, and a position tells nothing).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from sessionkeeper.api.deps import ServicesDep
from sessionkeeper.domain.public_ids import MAX_PUBLIC_ID, IdPermutation, PublicIds
from sessionkeeper.errors import InvalidInput, NotFound

PublicIdPath = Annotated[int, Path(ge=1, le=MAX_PUBLIC_ID)]
CursorQuery = Annotated[str | None, Query(max_length=20, description="next_cursor of a page")]


def _public_ids(services: ServicesDep) -> PublicIds:
    return services.runtime.db.public_ids


IdsDep = Annotated[PublicIds, Depends(_public_ids)]


def row_of(ids: IdPermutation, public_id: int, missing: str) -> int:
    """The row ``public_id`` stands for; 404 with ``missing`` for a number no id can be."""
    row_id = ids.row(public_id)
    if row_id is None:
        raise NotFound(missing)
    return row_id


def after_cursor(ids: IdPermutation, cursor: str | None) -> int:
    """The row id a page starts after: 0 without a cursor."""
    if cursor is None:
        return 0
    # ASCII digits only: str.isdigit also takes "²", which int() refuses.
    row_id = ids.row(int(cursor)) if cursor.isascii() and cursor.isdigit() else None
    if row_id is None:
        raise InvalidInput("cursor is not one this server issued", field="cursor")
    return row_id


def next_cursor(ids: IdPermutation, row_ids: list[int], limit: int) -> str | None:
    """The cursor after a full page of rows; None after the last page."""
    return str(ids.public(row_ids[-1])) if row_ids and len(row_ids) == limit else None
