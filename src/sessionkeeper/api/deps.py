"""Request dependencies: the services of this app, and who is calling with which scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sessionkeeper.services.container import Services
from sessionkeeper.services.tenants import Principal, Scope

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sk_…`")


async def get_services(request: Request) -> Services:
    # async: a plain function would be sent to the thread pool on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require(*scopes: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the key and checks it has one of ``scopes``."""

    async def principal(
        services: ServicesDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        found = await services.tenants.authenticate(
            credentials.credentials if credentials else None
        )
        found.require(*scopes)
        return found

    return principal


Ingest = Annotated[Principal, Depends(require(Scope.INGEST))]
Reader = Annotated[Principal, Depends(require(Scope.READ))]
IngestOrRead = Annotated[Principal, Depends(require(Scope.INGEST, Scope.READ))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
