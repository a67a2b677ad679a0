"""Tenant settings: the time zone whose days the tenant's rollups and history use.

Later settings of a tenant live beside it, under ``/v1/settings/...``.
"""

from __future__ import annotations

from sessionkeeper.feature import Feature
from sessionkeeper.settings.routes import router
from sessionkeeper.settings.service import SettingsService

FEATURE: Feature[SettingsService] = Feature(
    name="settings",
    build=lambda services: SettingsService(services.runtime),
    routers=[router],
)
