"""Query parameters a route does not declare are refused, and so is one given twice (422
naming the parameter): a misspelt filter must not silently widen a listing or a count to
everything, nor a repeated one silently keep its last value.

Every route of the API checks its query against what it declares (its parameters and its
dependencies'). A dependency that reads the query itself (the sessions' filters,
``api/filters.py``) is marked with :data:`READS_QUERY` and checks it the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from sessionkeeper.errors import InvalidInput

# Set on a dependency that reads the query itself and refuses what it does not know.
READS_QUERY = "sessionkeeper_reads_query"
Call = TypeVar("Call", bound=Callable[..., Any])

# Where a route keeps what it declares, worked out on its first request with a query.
_DECLARED = "sessionkeeper_declared_query"
_UNKNOWN = object()


def reads_query(call: Call) -> Call:
    """Marks a route or a dependency that reads the query itself and refuses, as
    :func:`refuse_unknown` does, what it does not know."""
    setattr(call, READS_QUERY, True)
    return call


def refuse_unknown(pairs: Iterable[tuple[str, str]], known: frozenset[str]) -> None:
    """422 for the first parameter not in ``known`` or given twice."""
    seen: set[str] = set()
    for name, _ in pairs:
        if name not in known:
            raise InvalidInput(
                f"unknown query parameter '{name}'", field=name, code="unknown_parameter"
            )
        if name in seen:
            raise InvalidInput(
                f"query parameter '{name}' is given more than once",
                field=name,
                code="repeated_parameter",
            )
        seen.add(name)


def _declared(dependant: Dependant) -> frozenset[str] | None:
    """The query parameters ``dependant`` and its dependencies declare; None when one of
    them reads the query itself."""
    if getattr(dependant.call, READS_QUERY, False):
        return None
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        found = _declared(sub)
        if found is None:
            return None
        names |= found
    return frozenset(names)


async def known_query(request: Request) -> None:
    """A dependency of every API route: refuses what the route does not declare."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.scope.get("query_string"):
        return
    known = getattr(route, _DECLARED, _UNKNOWN)
    if known is _UNKNOWN:
        known = _declared(route.dependant)
        setattr(route, _DECLARED, known)
    if isinstance(known, frozenset):
        refuse_unknown(request.query_params.multi_items(), known)
