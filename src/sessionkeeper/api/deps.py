"""Request dependencies: the services of this app, and who is calling with which scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from sessionkeeper.domain.principal import Principal, Scope
from sessionkeeper.services.container import Services

# Declared in the OpenAPI document by app.py for every /v1 operation. The key is read here
# straight from the header: each nested dependency costs FastAPI measurable time per request.
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key: `Authorization: Bearer sk_…`",
}


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def get_services(request: Request) -> Services:
    # async: a plain function would be sent to the thread pool on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require(*scopes: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks it has one of ``scopes``."""

    async def principal(request: Request) -> Principal:
        services: Services = request.app.state.services
        found = await services.auth.api_key(bearer_token(request))
        found.require(*scopes)
        return found

    return principal


# An authenticated principal whose scope allows the named kind of call.
IngestScope = Annotated[Principal, Depends(require(Scope.INGEST))]
ReadScope = Annotated[Principal, Depends(require(Scope.READ))]
IngestOrReadScope = Annotated[Principal, Depends(require(Scope.INGEST, Scope.READ))]
AdminScope = Annotated[Principal, Depends(require(Scope.ADMIN))]
