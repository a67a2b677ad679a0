"""Request dependencies: the services of this app, and who is calling with which scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from sessionkeeper.domain.principal import Credential, Principal, Scope
from sessionkeeper.errors import Forbidden, InvalidInput
from sessionkeeper.services.container import Services

# The header in which an operator key names the tenant it acts on.
TENANT_HEADER = "Sessionkeeper-Tenant"

# Declared in the OpenAPI document by app.py for every /v1 operation. The key is read here
# straight from the header: each nested dependency costs FastAPI measurable time per request.
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key: `Authorization: Bearer sk_…`. An operator key acts on the "
    f"whole server; where an operation works on one tenant's data it names the tenant in "
    f"the `{TENANT_HEADER}` header.",
}
# Marks the dependencies that authenticate, so the OpenAPI document can list 401 and 403
# for exactly the operations that have one.
AUTHENTICATES = "__sessionkeeper_authenticates__"


def single_header(request: Request, name: str) -> str | None:
    """The value of a header the request may send once: sent twice, which one was meant is
    not known (a proxy and the client may each have set one), so it is refused, 422."""
    values = request.headers.getlist(name)
    if len(values) > 1:
        raise InvalidInput(
            f"the {name} header is given more than once", field=name, code="repeated_header"
        )
    return values[0] if values else None


def bearer_token(request: Request) -> str | None:
    scheme, _, token = (single_header(request, "Authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def named_tenant(request: Request) -> str | None:
    """The tenant the request names in the tenant header, if any."""
    return single_header(request, TENANT_HEADER)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    # async: a plain function would be sent to the thread pool on every request.
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def authenticate(
    request: Request, *, server_wide: bool = False, key: str | None = None
) -> Principal:
    """The caller, acting on the tenant its key belongs to or, for an operator key, the one
    it names in the tenant header. ``server_wide``: the operator key may also name none.
    ``key``: one sent in the body instead of the header (a browser's tracker)."""
    services = services_of(request)
    found = await services.auth.api_key(key or bearer_token(request))
    # Before anything else is done for the request: a key over its limit costs no more.
    await services.rate_limits.check(found)
    found = await services.auth.acting_on(found, named_tenant(request))
    if found.server_wide and not server_wide:
        raise Forbidden(
            f"an operator key acts on one tenant here: name it in the {TENANT_HEADER} header",
            code="tenant_required",
        )
    return found


def require(*scopes: Scope, server_wide: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks it has one of ``scopes``."""

    async def principal(request: Request) -> Principal:
        found = await authenticate(request, server_wide=server_wide)
        found.require(*scopes)
        return found

    setattr(principal, AUTHENTICATES, True)
    return principal


async def _operator(request: Request) -> Principal:
    found = await authenticate(request, server_wide=True)
    if found.credential is not Credential.OPERATOR:
        raise Forbidden("this needs the operator key", code="operator_required")
    return found


setattr(_operator, AUTHENTICATES, True)


# An authenticated principal whose scope allows the named kind of call.
ingest_principal = require(Scope.INGEST)
# Maintenance a tenant's admin runs on its own data, and the operator key on the whole
# server (without naming a tenant): the sweep, the rooms' cleanup.
MaintenanceScope = Annotated[Principal, Depends(require(Scope.ADMIN, server_wide=True))]
IngestScope = Annotated[Principal, Depends(ingest_principal)]
ReadScope = Annotated[Principal, Depends(require(Scope.READ))]
IngestOrReadScope = Annotated[Principal, Depends(require(Scope.INGEST, Scope.READ))]
AdminScope = Annotated[Principal, Depends(require(Scope.ADMIN))]
# The operator key, acting on the whole server or on the tenant it names.
OperatorScope = Annotated[Principal, Depends(_operator)]
