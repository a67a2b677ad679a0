"""Who is calling: the principal that every service call and every storage query is scoped by.

Authentication (``services/auth.py``) turns a credential into a :class:`Principal`; from then
on nothing looks at the credential again. Storage applies the principal to every row it reads
or writes (``storage/scope.py``): always the tenant, and the user where the credential is one
user's. Row-level scoping for end users and browser keys is therefore the same mechanism as
tenant isolation, not a check per endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sessionkeeper.domain.public_ids import PublicIds
from sessionkeeper.errors import Forbidden


class Scope(StrEnum):
    INGEST = "ingest"  # write sessions, heartbeats, presence; read a session by id
    READ = "read"  # lists, health, policies; no writes
    ADMIN = "admin"  # everything within the tenant
    # A publishable key, safe to embed in a web page: it may only start a browser session
    # (``links/tracker_routes.py``) and beat and end that one session with the per-session
    # token the start returns. Every other route requires ingest, read or admin, which it
    # never allows.
    PUBLISH = "publish"

    def allows(self, needed: Scope) -> bool:
        return self is Scope.ADMIN or self is needed


class Credential(StrEnum):
    """How the caller proved who it is."""

    API_KEY = "api_key"
    END_USER_TOKEN = "end_user_token"
    PUBLISHABLE_KEY = "publishable_key"
    INVITE = "invite"
    DASHBOARD_LOGIN = "dashboard_login"
    # The operator at the server's own command line (the CLI) or with the operator key.
    OPERATOR = "operator"


# The credentials an actor names by their key's row id (``api_key:12``, ``operator:3`` for an
# operator key made by ``key create --operator``; the one of the environment is ``operator``).
_KEYED = tuple(
    f"{credential.value}:"
    for credential in (Credential.API_KEY, Credential.DASHBOARD_LOGIN, Credential.OPERATOR)
)


# The tenant id of the server-wide operator: no tenant has it (tenant ids start at 1), so a
# query scoped by it alone finds nothing.
SERVER_WIDE = 0


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: int
    tenant_name: str
    scope: Scope
    credential: Credential = Credential.API_KEY
    # Set when the credential belongs to one user: every row it reaches is that user's.
    user_id: str | None = None
    # Which credential of its kind (an API key's id): for the audit log and rate limits.
    credential_id: str | None = None

    @property
    def actor(self) -> str:
        """Who acted, as the audit log names it: ``api_key:12``, ``operator``,
        ``end_user_token:alice``."""
        # The user names the credential only when it is that user's own token: a key or the
        # operator narrowed to one user's rows (``/v1/users/{id}/…``) is still who acted.
        who = self.user_id if self.credential is Credential.END_USER_TOKEN else self.credential_id
        return self.credential.value if who is None else f"{self.credential.value}:{who}"

    @property
    def server_wide(self) -> bool:
        """The operator key acting on no one tenant: every tenant's rows, for the few
        endpoints that accept it (tenants, health, the sweep, metrics)."""
        return self.credential is Credential.OPERATOR and self.tenant_id == SERVER_WIDE

    def part_of(self, by_tenant: Mapping[int, int]) -> int:
        """Of a figure counted per tenant id, what this principal may see: its tenant's part,
        or the whole for the operator acting server-wide."""
        if self.server_wide:
            return sum(by_tenant.values())
        return by_tenant.get(self.tenant_id, 0)

    def require(self, *needed: Scope) -> None:
        """Pass when the principal's scope allows any of ``needed``."""
        if not any(self.scope.allows(scope) for scope in needed):
            wanted = " or ".join(f"'{scope}'" for scope in needed)
            raise Forbidden(f"this API key has scope '{self.scope}'; this needs {wanted}")


def operator(tenant_id: int, tenant_name: str, credential_id: str | None = None) -> Principal:
    """The operator acting on one tenant (the CLI, periodic jobs, an operator key naming a
    tenant): every row of the tenant. ``credential_id``: which operator key, if one."""
    return Principal(
        tenant_id, tenant_name, Scope.ADMIN, Credential.OPERATOR, credential_id=credential_id
    )


def server_operator(credential_id: str | None = None) -> Principal:
    """An operator key acting on the whole server (see :attr:`Principal.server_wide`);
    ``credential_id`` names a stored operator key, so that each has its own rate limit and
    its own name in the audit log."""
    return operator(SERVER_WIDE, "", credential_id)


def shown_actor(actor: str, ids: PublicIds) -> str:
    """An audit log's actor as clients see it: a key by its public id, as ``/v1/keys`` shows
    it (the log stores the row id, which counts other tenants' keys)."""
    for prefix in _KEYED:
        row_id = actor.removeprefix(prefix)
        if row_id != actor and row_id.isascii() and row_id.isdigit():
            return f"{prefix}{ids.keys.public(int(row_id))}"
    return actor
