"""Bodies of the settings endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictStr

from sessionkeeper.api.fields import WriteBody
from sessionkeeper.domain.times import from_ms
from sessionkeeper.settings.store import TenantSettings

Timezone = Annotated[StrictStr, Field(min_length=1, max_length=64, examples=["Europe/Prague"])]


class SettingsBody(WriteBody):
    timezone: Timezone = Field(description="IANA time zone name; the tenant's days are its days")


class SettingsOut(BaseModel):
    timezone: str
    updated_at: datetime | None = Field(description="When the settings were last changed")

    @classmethod
    def of(cls, settings: TenantSettings) -> SettingsOut:
        updated = None if settings.updated_at is None else from_ms(settings.updated_at)
        return cls(timezone=settings.timezone, updated_at=updated)
