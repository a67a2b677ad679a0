"""How routers are made and how their routes become the app's.

FastAPI (0.165) keeps an included router as one entry of the app's route list and matches a
request against its routes through the include's context, twice (once to choose the router,
once to choose the route), at a cost of tens of microseconds per request on top of the
routes' own matching. None of the app's routers is included with options of its own (no
prefix, dependencies or tags at inclusion: each router declares them itself), so their routes
are added to the app's route list directly (:func:`include`) and a request is matched against
each route once.

The one thing an include did that a route does not do itself is name its operations with the
app's function (``openapi.operation_id``); a route names them when it is made, so every
router is made by :func:`api_router`, which gives it that function, and :func:`include`
refuses a route named any other way.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from sessionkeeper.api.openapi import operation_id
from sessionkeeper.api.query import known_query


def api_router(**options: Any) -> APIRouter:
    """An ``APIRouter`` (same options) whose operations are named as the app names them and,
    for the API's own (documented) routes, refuse query parameters they do not declare
    (``api/query.py``)."""
    if options.get("include_in_schema", True):
        options["dependencies"] = [Depends(known_query), *options.get("dependencies", ())]
    return APIRouter(generate_unique_id_function=operation_id, **options)


def include(app: FastAPI, router: APIRouter) -> None:
    """Append ``router``'s routes to ``app``'s own route list, in their order."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only API routes are added one by one")
        if route.unique_id != operation_id(route):
            raise ValueError(
                f"route {route.path} was not made by api_router(): its operation would be "
                f"named {route.unique_id!r} instead of {operation_id(route)!r}"
            )
    app.router.routes.extend(router.routes)
