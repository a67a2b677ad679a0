"""Who is using the dashboard: an admin key exchanged for a signed login, checked again on
every request.

The login cookie holds the key's SHA-256 digest (as the key table stores it), never the key.
Each request looks the digest up again, so a revoked key logs its dashboard users out at
their next click; a login logged out is refused on every copy of its cookie. The operator
key acts on one tenant at a time, named in the login.
"""

from __future__ import annotations

import hmac
import secrets

from sessionkeeper.dashboard import logouts
from sessionkeeper.dashboard.rules import Login, csrf_token, csrf_valid, read_login, sign_login
from sessionkeeper.domain.principal import (
    Credential,
    Principal,
    Scope,
    server_operator,
)
from sessionkeeper.domain.rate_limit import Limit
from sessionkeeper.domain.secrets import digest
from sessionkeeper.errors import Forbidden, Unauthorized
from sessionkeeper.services.container import Services
from sessionkeeper.storage import tenants as tenant_store


class Access:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.rt = services.runtime
        settings = self.rt.settings
        configured = settings.dashboard_secret
        # Without a configured secret, one per process: logins end with the process, and
        # several processes of one server would refuse each other's cookies.
        self.secret = (
            configured.get_secret_value().encode()
            if configured is not None
            else secrets.token_bytes(32)
        )
        operator_key = settings.operator_key
        self._operator_digest = (
            None if operator_key is None else digest(operator_key.get_secret_value())
        )

    async def login_wait(self, address: str) -> float:
        """Take one login attempt of the client ``address``: 0 when it may try, else the
        seconds until it may (``SESSIONKEEPER_DASHBOARD_LOGIN_ATTEMPTS_PER_MIN`` a minute,
        as many at once), from the same buckets as the API keys' rate limits."""
        per_min = self.rt.settings.dashboard_login_attempts_per_min
        limit = Limit(rate=per_min / 60, burst=max(1.0, per_min))
        return await self.services.rate_limits.take(f"login/{address}", limit)

    @property
    def ttl_ms(self) -> int:
        return round(self.rt.settings.dashboard_login_ttl_s * 1000)

    async def log_in(self, key: str, tenant: str | None = None) -> Login:
        """A login for an admin key (or the operator key); Unauthorized or Forbidden."""
        key = key.strip()
        found = await self.services.auth.api_key(key)
        if not found.server_wide:
            found.require(Scope.ADMIN)
            tenant = None
        else:
            tenant = tenant or await self._first_tenant()
            if tenant is not None:
                await self.services.auth.acting_on(found, tenant)  # the tenant must exist
        login = Login(digest(key), tenant, self.rt.clock.now_ms() + self.ttl_ms, _nonce())
        return login

    async def _first_tenant(self) -> str | None:
        found = await self.rt.db.reader.run(lambda conn: tenant_store.list_tenants(conn, limit=1))
        return found[0].name if found else None

    def cookie(self, login: Login) -> str:
        return sign_login(self.secret, login)

    def read(self, cookie: str | None) -> Login | None:
        return read_login(self.secret, cookie, self.rt.clock.now_ms())

    async def log_out(self, login: Login) -> None:
        """End ``login`` on every copy of its cookie, not only the browser's."""
        now = self.rt.clock.now_ms()
        await self.rt.db.writer.run(
            lambda tx: logouts.record(tx.conn, login.nonce, login.expires_at, now)
        )

    async def principal(self, login: Login) -> Principal:
        """The principal of a login, as its key stands now: Unauthorized once revoked or
        logged out."""
        if await self.rt.db.reader.run(lambda conn: logouts.logged_out(conn, login.nonce)):
            raise Unauthorized("this login was logged out")
        if self._operator_digest is not None and hmac.compare_digest(
            login.key_digest, self._operator_digest
        ):
            base = server_operator()
        else:
            key = await self.rt.db.reader.run(
                lambda conn: tenant_store.find_key(conn, login.key_digest)
            )
            if key is None or key.revoked_at is not None:
                raise Unauthorized("this login's key was revoked")
            if key.tenant_id is None or key.tenant_name is None:
                base = server_operator(str(key.id))
            else:
                base = Principal(
                    key.tenant_id,
                    key.tenant_name,
                    Scope(key.scope),
                    Credential.DASHBOARD_LOGIN,
                    credential_id=str(key.id),
                )
                base.require(Scope.ADMIN)
        if not base.server_wide:
            return base
        if login.tenant is None:
            raise Forbidden("no tenant exists yet", code="tenant_required")
        return await self.services.auth.acting_on(base, login.tenant)

    async def tenants(self) -> list[str]:
        found = await self.rt.db.reader.run(lambda conn: tenant_store.list_tenants(conn, limit=500))
        return [tenant.name for tenant in found]

    def csrf(self, login: Login) -> str:
        return csrf_token(self.secret, login.nonce)

    def check_csrf(self, login: Login, sent: str | None) -> None:
        if not csrf_valid(self.secret, login.nonce, sent):
            raise Forbidden(
                "this action needs the form's CSRF token; reload the page and try again",
                code="csrf_failed",
            )

    def new_login_nonce(self) -> str:
        return _nonce()


def _nonce() -> str:
    return secrets.token_urlsafe(18)
