"""The OpenAPI document tells the truth: each operation lists the statuses it can return.

Most of them follow from what an operation takes, and are added here to every route, the
features' included:

- an operation that authenticates (a dependency from ``api/deps.py``) can answer 401 and
  403, 429 when its key is over its rate limit, and 503 when the database cannot be reached
  to check the key;
- one with a body can answer 413 (too large), 415 (an unknown ``Content-Encoding``) and 422;
- one with query or path parameters that can be malformed can answer 422.

What only the operation itself knows (404, 409, …) it declares with ``responses=problems(…)``.
Every error is a ``Problem`` (``application/problem+json``). Operation ids are the handlers'
names in camelCase (``start_session`` → ``startSession``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from sessionkeeper.api.deps import AUTHENTICATES, BEARER_SCHEME
from sessionkeeper.api.errors import PROBLEM_JSON
from sessionkeeper.api.responses import Problem

DESCRIPTIONS = {
    401: "No, unknown or revoked API key",
    403: "The key may not do this",
    404: "Not found (for this tenant)",
    408: "The request was not received in time",
    409: "Conflicts with what is stored",
    410: "No longer usable",
    413: "Body too large (as decoded)",
    415: "Unsupported Content-Encoding (send gzip or none)",
    422: "Invalid input: `field` names the first refused field, `errors` lists them all",
    429: "Over the rate limit; Retry-After says when to come back",
    503: "The database cannot be reached; Retry-After says when to retry",
}
_PROBLEM = {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for the error statuses it declares itself."""
    return {
        status: {"description": DESCRIPTIONS.get(status, "Error"), **_PROBLEM}
        for status in statuses
    }


def operation_id(route: APIRoute) -> str:
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _authenticates(dependant: Dependant) -> bool:
    return any(
        getattr(sub.call, AUTHENTICATES, False) or _authenticates(sub)
        for sub in dependant.dependencies
    )


def _validated_params(dependant: Dependant) -> bool:
    params = [*dependant.query_params, *dependant.header_params, *dependant.cookie_params]
    # A plain string in the path cannot be malformed; anything else there can.
    params += [
        p
        for p in dependant.path_params
        if p.field_info.metadata or p.field_info.annotation is not str
    ]
    return bool(params) or any(_validated_params(sub) for sub in dependant.dependencies)


def derived_statuses(route: APIRoute) -> list[int]:
    statuses: list[int] = []
    if _authenticates(route.dependant):
        statuses += [401, 403, 429, 503]
    if route.body_field is not None:
        statuses += [413, 415, 422]
    elif _validated_params(route.dependant):
        statuses.append(422)
    return statuses


def declare_statuses(router: APIRouter) -> APIRouter:
    """Add the derived error statuses to every route of ``router`` (before it is included:
    the app keeps its own view of an included router's routes)."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            route.responses = {**problems(*derived_statuses(route)), **route.responses}
    return router


_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def _drop_default_validation_errors(schema: dict[str, Any]) -> None:
    """FastAPI documents a 422 of its own shape for any operation with parameters, even one
    whose parameters cannot be malformed; every real 422 here is a Problem, declared above."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422", {})
            body = response.get("content", {}).get("application/json", {})
            if body.get("schema", {}).get("$ref") == _FASTAPI_422:
                del operation["responses"]["422"]
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def complete(app: FastAPI, *extend: Callable[[dict[str, Any]], None]) -> None:
    """Complete the document: the Problem schema the error responses refer to, the bearer
    key every /v1 operation needs, and whatever each of ``extend`` adds."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in problem.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components.setdefault("Problem", problem)
            schema["components"]["securitySchemes"] = {"bearer": BEARER_SCHEME}
            _drop_default_validation_errors(schema)
            for path, operations in schema.get("paths", {}).items():
                if path.startswith("/v1/"):
                    for operation in operations.values():
                        # An operation that declares its own (the browser tracker's, whose
                        # credential is in the body) keeps it.
                        operation.setdefault("security", [{"bearer": []}])
            for add in extend:
                add(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
