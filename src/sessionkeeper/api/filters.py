"""The session filters as query parameters: read from the query by the domain's one parser,
and declared in the OpenAPI document from the domain's one list of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from sessionkeeper.api.query import reads_query
from sessionkeeper.domain.listing import FILTERS, SUBJECT_FILTER_DESCRIPTION, SessionFilter

# For ``openapi_extra``: FastAPI adds these to the parameters it declares itself.
FILTER_PARAMETERS: dict[str, Any] = {
    "parameters": [
        {
            "name": spec.name,
            "in": "query",
            "required": False,
            "description": spec.description,
            "schema": dict(spec.schema),
        }
        for spec in FILTERS
    ]
}
FILTERS_DOC = "Filters (see the parameters), plus " + SUBJECT_FILTER_DESCRIPTION + "."


def session_filter(*own: str) -> Callable[[Request], Awaitable[SessionFilter]]:
    """A dependency giving the filter of the query, whose other parameters are ``own``.

    Any other parameter is refused (422 naming it): a misspelt filter must not silently
    widen a count or an export to every session.
    """

    async def dependency(request: Request) -> SessionFilter:
        pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in own]
        return SessionFilter.parse(pairs)

    # SessionFilter.parse refuses what it does not know; the route declares ``own``.
    return reads_query(dependency)
