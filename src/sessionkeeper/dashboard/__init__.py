"""The admin dashboard: live sessions and rooms, charts from the rollups, filters, CSV and
actions by hand, server-rendered under ``/admin``. See ``docs/dashboard.md``."""

from __future__ import annotations

from sessionkeeper.dashboard import tables as tables
from sessionkeeper.dashboard.actions import router as actions_router
from sessionkeeper.dashboard.routes import router as pages_router
from sessionkeeper.dashboard.service import Dashboard
from sessionkeeper.feature import Feature

FEATURE: Feature[Dashboard] = Feature(
    name="dashboard", build=Dashboard.build, routers=[actions_router, pages_router]
)
