"""``/v1/settings``: the tenant's own settings."""

from __future__ import annotations

from sessionkeeper.api.deps import AdminScope, ReadScope, ServicesDep
from sessionkeeper.api.errors import PROBLEM_RESPONSES
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.settings.schemas import SettingsBody, SettingsOut
from sessionkeeper.settings.service import SettingsService

router = api_router(
    prefix="/v1", tags=["settings"], responses=PROBLEM_RESPONSES, route_class=StrictJSONRoute
)


@router.get("/settings", response_model=SettingsOut)
async def get_settings(principal: ReadScope, services: ServicesDep) -> SettingsOut:
    """The tenant's settings; a tenant that never set them has the defaults (UTC)."""
    return SettingsOut.of(await services.of(SettingsService).get(principal))


@router.put("/settings", response_model=SettingsOut)
async def put_settings(
    body: SettingsBody, principal: AdminScope, services: ServicesDep
) -> SettingsOut:
    """Set the tenant's time zone. Rollups are recomputed in the new zone's days."""
    settings = await services.of(SettingsService).put(principal, timezone=body.timezone)
    return SettingsOut.of(settings)
