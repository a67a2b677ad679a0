"""Outcomes, metric definitions, end-user tokens and the tenant's learning settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from sessionkeeper.domain.listing import Cursor, SessionFilter
from sessionkeeper.domain.principal import Credential, Principal, Scope
from sessionkeeper.domain.session import Session
from sessionkeeper.errors import InvalidInput, NotFound, Unauthorized
from sessionkeeper.learning import jwks_fetch, store
from sessionkeeper.learning.rules import MetricDefinition, metric_problem, parse_day_start
from sessionkeeper.learning.store import Outcome
from sessionkeeper.learning.tokens import REFUSED, AuthConfig, config_problem, unverified_issuer
from sessionkeeper.learning.tokens import user_of as token_user
from sessionkeeper.services.container import Services
from sessionkeeper.storage import sessions as session_store
from sessionkeeper.storage.transaction import Transaction

# Tag fields of outcomes that feed the recap, and the streak rules, unless the tenant says.
DEFAULT_RECAP: dict[str, Any] = {
    "focus_field": "areas_to_improve",
    "learned_field": "vocabulary",
    "day_start": "00:00",
    "min_minutes": 1.0,
}


@dataclass(frozen=True, slots=True)
class RecapSettings:
    focus_field: str
    learned_field: str
    day_start: str
    min_minutes: float

    @property
    def day_start_minutes(self) -> int:
        return parse_day_start(self.day_start)


def for_user(principal: Principal, user_id: str) -> Principal:
    """``principal`` narrowed to one user's rows: an admin or read key acting on
    ``/v1/users/{user_id}/…`` sees exactly what that user's own token would."""
    return dataclasses.replace(principal, user_id=user_id)


def user_principal(tenant_id: int, tenant_name: str, user_id: str) -> Principal:
    return Principal(
        tenant_id, tenant_name, Scope.INGEST, Credential.END_USER_TOKEN, user_id=user_id
    )


class Learning:
    """The feature's service; the statistics and privacy parts build on it."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.rt = services.runtime

    # Outcomes.

    async def put_outcome(
        self, principal: Principal, session_id: str, outcome: Outcome
    ) -> tuple[Session, Outcome]:
        """Set (replace) the outcome of a session, active or closed."""
        if principal.credential is not Credential.END_USER_TOKEN:
            principal.require(Scope.INGEST)
        now = self.rt.clock.now_ms()

        def put(tx: Transaction) -> tuple[Session, Outcome] | None:
            session = session_store.get(tx.conn, principal, session_id)
            if session is None:
                return None
            return session, write_outcome(tx.conn, principal, session, outcome, now)

        result = await self.rt.db.writer.run(put)
        if result is None:
            raise NotFound(f"no session '{session_id}'")
        return result[0].as_of(now), result[1]

    async def outcome(self, principal: Principal, session_id: str) -> tuple[Session, Outcome]:
        session = await self.services.sessions.get(principal, session_id)
        found = await self.outcomes(principal, [session])
        if session.id not in found:
            raise NotFound(f"session '{session_id}' has no outcome yet")
        return session, found[session.id]

    async def outcomes(self, principal: Principal, sessions: list[Session]) -> dict[str, Outcome]:
        ids = [s.id for s in sessions]
        return await self.rt.db.reader.run(lambda conn: store.outcomes_of(conn, principal, ids))

    async def history(
        self,
        principal: Principal,
        *,
        kind: str | None,
        limit: int,
        after: Cursor | None,
    ) -> tuple[list[tuple[Session, Outcome | None]], Cursor | None]:
        """The principal's user's sessions, newest first, with their outcomes."""
        where = SessionFilter(kind=kind, user_id=principal.user_id)
        page, next_cursor = await self.services.sessions.list(
            principal, where, limit=limit, after=after
        )
        found = await self.outcomes(principal, page)
        return [(s, found.get(s.id)) for s in page], next_cursor

    # Metric definitions.

    async def definitions(self, principal: Principal) -> dict[str, MetricDefinition]:
        return await self.rt.db.reader.run(
            lambda conn: store.definitions(conn, principal.tenant_id)
        )

    async def put_definition(
        self, principal: Principal, definition: MetricDefinition
    ) -> MetricDefinition:
        principal.require(Scope.ADMIN)
        if definition.min > definition.max:
            raise InvalidInput("min must not be greater than max", field="min")
        now = self.rt.clock.now_ms()
        await self.rt.db.writer.run(
            lambda tx: store.put_definition(tx.conn, principal.tenant_id, definition, now)
        )
        return definition

    async def delete_definition(self, principal: Principal, name: str) -> None:
        principal.require(Scope.ADMIN)
        deleted = await self.rt.db.writer.run(
            lambda tx: store.delete_definition(tx.conn, principal.tenant_id, name)
        )
        if not deleted:
            raise NotFound(f"no metric definition '{name}'")

    # Settings.

    async def settings(self, principal: Principal) -> store.UserSettings:
        return await self.rt.db.reader.run(lambda conn: store.settings(conn, principal.tenant_id))

    async def put_auth(self, principal: Principal, config: AuthConfig | None) -> AuthConfig | None:
        """Set how end-user tokens are checked; a ``jwks_url`` is fetched now (422 when it
        cannot be), and the document kept with it."""
        principal.require(Scope.ADMIN)
        if config is not None and config.jwks_url is not None:
            try:
                document = await jwks_fetch.fetch(
                    config.jwks_url, allow_private=self.rt.settings.webhook_allow_private
                )
            except jwks_fetch.JwksUnavailable as exc:
                raise InvalidInput(
                    f"the JWKS could not be fetched from its URL: {exc}", field="jwks"
                ) from exc
            config = dataclasses.replace(config, jwks=document)
        if config is not None:
            problem = config_problem(config)
            if problem is not None:
                raise InvalidInput(problem[1], field=problem[0])
        value = None if config is None else config.as_json()
        now = self.rt.clock.now_ms()
        await self.rt.db.writer.run(
            lambda tx: store.put_settings(tx.conn, principal.tenant_id, "auth", value, now)
        )
        return config

    async def refresh_jwks(self) -> int:
        """Fetch again every JWKS given by URL; the tenants whose keys changed. A document
        that cannot be fetched or used keeps the one before (keys must not vanish because
        the key server had a bad minute)."""
        found = await self.rt.db.reader.run(store.auth_by_url)
        changed = 0
        for tenant_id, auth in found:
            config = AuthConfig.from_json(auth)
            assert config.jwks_url is not None
            try:
                document = await jwks_fetch.fetch(
                    config.jwks_url, allow_private=self.rt.settings.webhook_allow_private
                )
            except jwks_fetch.JwksUnavailable:
                continue
            fresh = dataclasses.replace(config, jwks=document)
            if document == config.jwks or config_problem(fresh) is not None:
                continue
            await self.rt.db.writer.run(
                partial(_refresh, tenant_id, fresh.as_json(), self.rt.clock.now_ms())
            )
            changed += 1
        return changed

    async def recap_settings(self, principal: Principal) -> RecapSettings:
        found = (await self.settings(principal)).recap or {}
        return RecapSettings(**{**DEFAULT_RECAP, **found})

    async def put_recap(self, principal: Principal, recap: RecapSettings) -> RecapSettings:
        principal.require(Scope.ADMIN)
        try:
            recap.day_start_minutes  # noqa: B018 - checks the value
        except ValueError as exc:
            raise InvalidInput(str(exc), field="day_start") from exc
        value = dataclasses.asdict(recap)
        now = self.rt.clock.now_ms()
        await self.rt.db.writer.run(
            lambda tx: store.put_settings(tx.conn, principal.tenant_id, "recap", value, now)
        )
        return recap

    # End-user tokens.

    async def authenticate(self, token: str | None, tenant_name: str | None) -> Principal:
        """The user a bearer token proves, in the tenant named or, without a name, in the one
        tenant whose settings accept it among those that expect tokens of its issuer.

        Tenants choose their issuer freely, so several may name the same one: the token is
        checked against each of their settings (keys, audience), and only a token that
        exactly one of them accepts is taken without a tenant's name. Another tenant naming
        the same issuer with other keys therefore neither refuses this tenant's users nor
        learns, from a refusal of its own tokens, that the issuer is in use."""
        if not token:
            raise Unauthorized("send an end-user token as 'Authorization: Bearer <jwt>'")
        issuer = None if tenant_name is not None else unverified_issuer(token)
        if tenant_name is None and issuer is None:
            raise Unauthorized(REFUSED)
        found = await self.rt.db.reader.run(
            lambda conn: store.tenant_auth(conn, tenant_name=tenant_name, issuer=issuer)
        )
        now_s = self.rt.clock.now_ms() / 1000
        proven = []
        for tenant in found:
            try:
                user = token_user(token, AuthConfig.from_json(tenant.auth), now_s)
            except Unauthorized:
                continue
            proven.append(user_principal(tenant.tenant_id, tenant.tenant_name, user))
        # None accepts it; or several do (they share keys and audience): it must name one.
        if len(proven) != 1:
            raise Unauthorized(REFUSED)
        return proven[0]


def _refresh(tenant_id: int, auth: dict[str, Any], now: int, tx: Transaction) -> None:
    store.refresh_auth(tx.conn, tenant_id, auth, now)


def write_outcome(
    conn: Connection, principal: Principal, session: Session, outcome: Outcome, now: int
) -> Outcome:
    """Set (replace) a session's outcome once its metrics pass the tenant's definitions, read
    in the same transaction: the one path of PUT …/outcome and of an end with an outcome."""
    check_metrics(outcome.metrics, store.definitions(conn, principal.tenant_id))
    return store.put_outcome(conn, principal.tenant_id, session, outcome, now)


def check_metrics(metrics: Mapping[str, float], found: Mapping[str, MetricDefinition]) -> None:
    for name, value in metrics.items():
        problem = metric_problem(name, value, found)
        if problem is not None:
            raise InvalidInput(problem, field=f"metrics.{name}", code="metric_refused")
