"""The services of one process, wired once: the kernel's, then each feature's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sessionkeeper.services.audit import AuditLog
from sessionkeeper.services.auth import Authenticator
from sessionkeeper.services.health import HealthService
from sessionkeeper.services.liveness import Liveness
from sessionkeeper.services.policies import PolicyService
from sessionkeeper.services.presence import PresenceService
from sessionkeeper.services.rate_limits import RateLimits
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.session_fields import SessionFields
from sessionkeeper.services.session_reports import SessionReports
from sessionkeeper.services.sessions import SessionService
from sessionkeeper.services.subscribers import subscribers
from sessionkeeper.services.sweeper import Sweeper
from sessionkeeper.services.tenants import TenantService

if TYPE_CHECKING:
    from sessionkeeper.feature import Feature

S = TypeVar("S")


@dataclass
class Services:
    runtime: Runtime
    auth: Authenticator
    tenants: TenantService
    policies: PolicyService
    sessions: SessionService
    sweeper: Sweeper
    health: HealthService
    presence: PresenceService
    liveness: Liveness
    reports: SessionReports
    audit: AuditLog
    rate_limits: RateLimits
    features: Sequence[Feature[Any]] = ()
    _by_feature: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, runtime: Runtime, features: Sequence[Feature[Any]] = ()) -> Services:
        auth = Authenticator(runtime)
        fields = SessionFields([f for feature in features for f in feature.session_fields])
        owned: dict[str, frozenset[str]] = {}
        for feature in features:
            for source, keys in feature.owned_attributes.items():
                owned[source] = owned.get(source, frozenset()) | frozenset(keys)
        sessions = SessionService(runtime, fields, owned)
        sweeper = Sweeper(runtime)
        services = cls(
            runtime=runtime,
            auth=auth,
            tenants=TenantService(runtime, auth),
            policies=PolicyService(runtime),
            sessions=sessions,
            sweeper=sweeper,
            health=HealthService(runtime, sweeper, fields),
            presence=PresenceService(
                runtime,
                sessions,
                taken_sources=frozenset(s for f in features for s in f.session_sources),
            ),
            liveness=Liveness(runtime),
            reports=SessionReports(runtime, fields),
            audit=AuditLog(runtime),
            rate_limits=RateLimits(runtime),
            features=tuple(features),
        )
        runtime.db.writer.recovery = services.liveness.recover
        for feature in features:
            services._by_feature[feature.name] = feature.build(services)
        # Replaced, not added to: building the services again (the CLI's serve does) must not
        # count every event twice.
        runtime.db.writer.subscribers = subscribers(services, features)
        return services

    def feature(self, name: str) -> Any:
        """The service of the feature ``name``."""
        return self._by_feature[name]

    def of(self, kind: type[S]) -> S:
        """The feature service of type ``kind``; what feature routes ask for."""
        for service in self._by_feature.values():
            if isinstance(service, kind):
                return service
        raise LookupError(f"no feature service of type {kind.__name__}")
