"""Per-kind policies: heartbeat interval, timeout and grace."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, Field, StrictFloat

from sessionkeeper.api.deps import AdminScope, IngestOrReadScope, ServicesDep
from sessionkeeper.api.fields import WriteBody
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.domain.policy import DEFAULT_KIND, DEFAULT_POLICY, Policy

router = api_router(prefix="/v1", tags=["policies"], route_class=StrictJSONRoute)

MIN_SECONDS = 1
MAX_SECONDS = 30 * 24 * 3600
Seconds = Annotated[StrictFloat | None, Field(ge=MIN_SECONDS, le=MAX_SECONDS)]


class PolicyIn(WriteBody):
    heartbeat_interval_s: Seconds = Field(default=None, description="Default 60")
    timeout_s: Seconds = Field(default=None, description="Default 5 heartbeat intervals")
    grace_s: Annotated[StrictFloat | None, Field(ge=0, le=MAX_SECONDS)] = Field(
        default=None, description="Default half the heartbeat interval"
    )
    presence_interval_s: Seconds = Field(
        default=None,
        description="Rooms of the kind: how often participants send presence; default 30",
    )
    room_timeout_s: Seconds = Field(
        default=None,
        description="Rooms of the kind: silence after which a room is inactive; default 3600",
    )
    hidden_timeout_s: Seconds = Field(
        default=None,
        description="Browser sessions whose last beat said the page was hidden: the timeout "
        "instead of timeout_s; default 900",
    )


class PolicyOut(BaseModel):
    kind: str
    heartbeat_interval_s: float
    timeout_s: float
    grace_s: float
    presence_interval_s: float
    room_timeout_s: float
    hidden_timeout_s: float
    builtin: bool = False

    @classmethod
    def of(cls, kind: str, policy: Policy, *, builtin: bool = False) -> PolicyOut:
        return cls(
            kind=kind,
            heartbeat_interval_s=policy.heartbeat_interval_s,
            timeout_s=policy.timeout_s,
            grace_s=policy.grace_s,
            presence_interval_s=policy.presence_interval_s,
            room_timeout_s=policy.room_timeout_s,
            hidden_timeout_s=policy.hidden_timeout_s,
            builtin=builtin,
        )


class PolicyList(BaseModel):
    items: list[PolicyOut]


@router.put("/policies/{kind}", response_model=PolicyOut)
async def put_policy(
    kind: Annotated[str, Path(pattern=r"^(\*|[A-Za-z0-9_.:-]{1,64})$")],
    body: PolicyIn,
    principal: AdminScope,
    services: ServicesDep,
) -> PolicyOut:
    """Set the policy of a kind (``*``: the tenant's default). Heartbeats use it from now on."""
    policy = await services.policies.put(
        principal,
        kind,
        heartbeat_interval_s=body.heartbeat_interval_s,
        timeout_s=body.timeout_s,
        grace_s=body.grace_s,
        presence_interval_s=body.presence_interval_s,
        room_timeout_s=body.room_timeout_s,
        hidden_timeout_s=body.hidden_timeout_s,
    )
    return PolicyOut.of(kind, policy)


@router.get("/policies", response_model=PolicyList)
async def list_policies(principal: IngestOrReadScope, services: ServicesDep) -> PolicyList:
    """Every policy of the tenant; ``*`` is always listed (``builtin`` when never set).

    Ingest keys may read them too: clients need the heartbeat interval of their kind."""
    policies = await services.policies.all(principal)
    items = [PolicyOut.of(kind, policy) for kind, policy in sorted(policies.items())]
    if DEFAULT_KIND not in policies:
        items.insert(0, PolicyOut.of(DEFAULT_KIND, DEFAULT_POLICY, builtin=True))
    return PolicyList(items=items)
