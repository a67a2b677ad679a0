"""The services of one process, wired once."""

from __future__ import annotations

from dataclasses import dataclass

from sessionkeeper.services.health import HealthService
from sessionkeeper.services.policies import PolicyService
from sessionkeeper.services.presence import PresenceService
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.sessions import SessionService
from sessionkeeper.services.sweeper import Sweeper
from sessionkeeper.services.tenants import TenantService


@dataclass
class Services:
    runtime: Runtime
    tenants: TenantService
    policies: PolicyService
    sessions: SessionService
    sweeper: Sweeper
    health: HealthService
    presence: PresenceService

    @classmethod
    def build(cls, runtime: Runtime) -> Services:
        policies = PolicyService(runtime)
        sessions = SessionService(runtime)
        sweeper = Sweeper(runtime)
        return cls(
            runtime=runtime,
            tenants=TenantService(runtime),
            policies=policies,
            sessions=sessions,
            sweeper=sweeper,
            health=HealthService(runtime, sweeper),
            presence=PresenceService(runtime, sessions),
        )
